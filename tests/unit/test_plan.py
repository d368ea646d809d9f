from __future__ import annotations

from escadre.drivers.base import AppStatus, Instance, RevisionStatus
from escadre.model.revision import make_revision
from escadre.operations.plan import changed_keys, plan_service
from tests.support import service


def observed(*revs: tuple[str, int, str]) -> AppStatus:
    out = []
    for rev, n, state in revs:
        insts = tuple(Instance(f"{rev}{i}", f"web-{i}", "web", rev, state) for i in range(n))  # type: ignore[arg-type]
        out.append(RevisionStatus("web", rev, n, insts))
    return AppStatus("app", tuple(out))


def rev_of(replicas: int = 1, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    svc = service("web", replicas=replicas, environment=env)
    return svc, make_revision(svc, image="img", image_id="sha256:1")


def test_new_service_is_created() -> None:
    svc, rev = rev_of()
    change = plan_service(svc, rev, AppStatus("app"))
    assert change.action == "create"
    assert change.reason == "new service"


def test_same_revision_is_unchanged() -> None:
    svc, rev = rev_of()
    assert plan_service(svc, rev, observed((rev.id, 1, "running"))).action == "unchanged"


def test_replica_change_is_a_scale_not_a_redeploy() -> None:
    svc, rev = rev_of(replicas=3)
    change = plan_service(svc, rev, observed((rev.id, 1, "running")))
    assert (change.action, change.current_replicas, change.replicas) == ("scale", 1, 3)


def test_stopped_instances_are_started() -> None:
    svc, rev = rev_of()
    assert plan_service(svc, rev, observed((rev.id, 1, "exited"))).action == "start"


def test_changed_spec_is_an_update_naming_the_keys() -> None:
    _, old = rev_of(env={"A": "1"})
    svc, rev = rev_of(env={"A": "2"})
    change = plan_service(svc, rev, observed((old.id, 1, "running")), previous_spec=dict(old.spec))
    assert change.action == "update"
    assert change.changed_keys == ("environment.A",)
    assert change.current == (old.id,)


def test_leftover_revisions_make_an_update() -> None:
    svc, rev = rev_of()
    change = plan_service(svc, rev, observed((rev.id, 1, "running"), ("oldrev", 1, "running")))
    assert change.action == "update"
    assert "oldrev" in change.reason


def test_changed_keys() -> None:
    assert changed_keys({"a": 1, "b": {"x": 1}}, {"a": 2, "b": {"x": 1, "y": 2}, "c": 3}) == ["a", "b.y", "c"]
