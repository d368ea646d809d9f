"""``up``/``down``/``plan`` semantics against the in-memory driver (hermetic and fast)."""

from __future__ import annotations

import pytest

from escadre.core.errors import SpecError
from escadre.core.progress import CollectingProgress
from escadre.drivers.memory import MemoryDriver
from escadre.operations.context import Context
from escadre.operations.deploy import down, plan, selected_services, up
from tests.support import project, service


@pytest.fixture
def mem(ctx: Context) -> MemoryDriver:
    driver = MemoryDriver("mem", exit_codes={"migrate": 0})
    ctx.attach(driver)
    return driver


def events(ctx: Context) -> CollectingProgress:
    assert isinstance(ctx.progress, CollectingProgress)
    return ctx.progress


def stack(**overrides: object):  # type: ignore[no-untyped-def]
    db = service("db", healthy_after=0)
    migrate = service("migrate", command=("true",), depends_on={"db": "service_healthy"})
    api = service(
        "api",
        healthy_after=0,
        depends_on={"db": "service_healthy", "migrate": "service_completed_successfully"},
        environment=overrides.get("api_env", {"V": "1"}),
        replicas=overrides.get("api_replicas", 1),
    )  # type: ignore[arg-type]
    web = service("web", depends_on={"api": "service_started"})
    return project("shop", db, migrate, api, web)


def test_first_up_creates_everything_in_dependency_order(ctx: Context, mem: MemoryDriver) -> None:
    result = up(ctx, stack(), target="mem")
    assert result.ok, result.failures
    assert {o.service: o.status for o in result.outcomes} == {
        "db": "created",
        "migrate": "created",
        "api": "created",
        "web": "created",
    }
    applied = [c[1] for c in mem.calls if c[0] == "apply_revision"]
    assert applied.index("db") < applied.index("migrate") < applied.index("api") < applied.index("web")
    history = ctx.store.list_deployments("shop", "mem")
    assert sorted(d.service for d in history) == ["api", "db", "migrate", "web"]
    assert all(d.status == "succeeded" for d in history)


def test_second_up_changes_nothing(ctx: Context, mem: MemoryDriver) -> None:
    up(ctx, stack(), target="mem")
    before = len(mem.calls)
    result = up(ctx, stack(), target="mem")
    assert {o.status for o in result.outcomes} == {"unchanged"}
    assert not [c for c in mem.calls[before:] if c[0] in ("apply_revision", "remove_revision")]
    assert not plan(ctx, stack(), target="mem").has_changes


def test_only_the_changed_service_is_redeployed(ctx: Context, mem: MemoryDriver) -> None:
    up(ctx, stack(), target="mem")
    old = mem.observe("shop", "api").revisions[0].revision
    changed = stack(api_env={"V": "2"})
    p = plan(ctx, changed, target="mem")
    assert p.change("api").action == "update"
    assert p.change("api").changed_keys == ("environment.V",)
    assert p.change("db").action == "unchanged"
    result = up(ctx, changed, target="mem")
    assert {o.service: o.status for o in result.outcomes}["api"] == "updated"
    revs = mem.observe("shop", "api").revisions
    assert len(revs) == 1 and revs[0].revision != old
    deployment = ctx.store.list_deployments("shop", "mem", service="api")[0]
    assert deployment.from_revision == old


def test_scaling_does_not_change_the_revision(ctx: Context, mem: MemoryDriver) -> None:
    up(ctx, stack(), target="mem")
    rev = mem.observe("shop", "api").revisions[0].revision
    result = up(ctx, stack(api_replicas=3), target="mem")
    assert {o.service: o.status for o in result.outcomes}["api"] == "scaled"
    (status,) = mem.observe("shop", "api").revisions
    assert (status.revision, status.desired) == (rev, 3)


def test_a_failing_service_skips_only_its_dependents(ctx: Context) -> None:
    driver = MemoryDriver("mem", exit_codes={"migrate": 1})
    ctx.attach(driver)
    result = up(ctx, stack(), target="mem")
    statuses = {o.service: o.status for o in result.outcomes}
    assert statuses == {"db": "created", "migrate": "failed", "api": "skipped", "web": "skipped"}
    assert not result.ok
    assert "exited with code 1" in next(o.message for o in result.outcomes if o.service == "migrate")
    failed = ctx.store.list_deployments("shop", "mem", service="migrate")[0]
    assert (failed.status, "exited with code 1" in failed.message) == ("failed", True)
    assert ctx.store.list_deployments("shop", "mem", service="db")[0].status == "succeeded"
    kinds = [e.kind for e in ctx.store.events(project="shop")]
    assert kinds[0] == "up.started" and kinds[-1] == "up.failed"


def test_unhealthy_service_fails_the_up(ctx: Context) -> None:
    driver = MemoryDriver("mem", unhealthy=["db"], exit_codes={"migrate": 0})
    ctx.attach(driver)
    result = up(ctx, stack(), target="mem")
    assert {o.service: o.status for o in result.outcomes}["db"] == "failed"


def test_service_healthy_on_a_service_without_healthcheck_is_a_spec_error(ctx: Context, mem: MemoryDriver) -> None:
    bad = project("shop", service("db"), service("api", depends_on={"db": "service_healthy"}))
    with pytest.raises(SpecError, match="has no healthcheck"):
        up(ctx, bad, target="mem")


def test_up_of_one_service_brings_its_dependencies(ctx: Context, mem: MemoryDriver) -> None:
    assert selected_services(stack(), ["api"]) == ["db", "migrate", "api"]
    result = up(ctx, stack(), target="mem", services=["api"])
    assert sorted(o.service for o in result.outcomes) == ["api", "db", "migrate"]
    with pytest.raises(SpecError, match="no such service"):
        up(ctx, stack(), target="mem", services=["nope"])


def test_orphans_are_reported_then_removed_on_request(ctx: Context, mem: MemoryDriver) -> None:
    up(ctx, stack(), target="mem")
    smaller = project("shop", *[s for n, s in stack().services.items() if n != "web"])
    result = up(ctx, smaller, target="mem")
    assert result.plan.orphans == ("web",)
    assert any(e.action == "orphan" for e in events(ctx).events)
    assert "web" in mem.observe("shop").services
    result = up(ctx, smaller, target="mem", remove_orphans=True)
    assert result.removed_orphans == ("web",)
    assert "web" not in mem.observe("shop").services


def test_down_removes_everything_and_is_recorded(ctx: Context, mem: MemoryDriver) -> None:
    up(ctx, stack(), target="mem")
    removed = down(ctx, "shop", target="mem", volumes=True)
    assert "network shop_default" in removed
    assert mem.observe("shop").revisions == ()
    assert ctx.store.events(project="shop")[-1].kind == "down"


def test_independent_services_are_started_in_parallel(ctx: Context) -> None:
    import threading
    import time

    class Slow(MemoryDriver):
        def __init__(self) -> None:
            super().__init__("mem")
            self.active = 0
            self.peak = 0
            self.guard = threading.Lock()

        def apply_revision(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            with self.guard:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.2)
            with self.guard:
                self.active -= 1
            return super().apply_revision(*args, **kwargs)

    driver = Slow()
    ctx.attach(driver)
    proj = project("par", *[service(f"s{i}") for i in range(6)])
    started = time.monotonic()
    assert up(ctx, proj, target="mem").ok
    assert driver.peak == 3  # the start gate (START_SLOTS)
    assert time.monotonic() - started < 1.0
