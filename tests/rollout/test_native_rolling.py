"""The rollout engine handing a plain ``rolling`` update to a platform that does it natively
(``NativeRolling``), against the in-memory driver with a scripted platform: completion, the platform's
own rollback, a pause decided by ``promote`` or ``abort``, a crash mid-update, and when the engine keeps
the batches to itself (routed service, background analysis, a target without the capability)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from escadre.core.progress import CollectingProgress, Progress
from escadre.drivers.base import UpdateProgress
from escadre.drivers.memory import MemoryDriver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.model.settings import ServiceSettings
from escadre.rollout.engine import RolloutEngine
from escadre.state.store import StateStore
from tests.rollout.test_engine import Crash, FakeTime, Rig, running, start, versions


@dataclass
class Platform:
    """What the scripted platform does with the next update: the terminal states it reaches, in order
    (one per ``native_update`` call), and what a rollback ends in."""

    updates: list[str] = field(default_factory=lambda: ["completed"])
    rollback: str = "rollback_completed"
    crash_on_update: bool = False


class NativeMemoryDriver(MemoryDriver):
    """The in-memory driver plus a platform that updates a revision in place."""

    capabilities = frozenset({"build", "logs-follow", "native-rolling"})

    def __init__(self, name: str, time: FakeTime) -> None:
        super().__init__(name)
        self.time = time
        self.platform = Platform()
        self.native_calls: list[tuple[str, ...]] = []

    def native_update(
        self, project: Project, revision: Revision, replicas: int, progress: Progress, *, from_revision: str
    ) -> Iterator[UpdateProgress]:
        self.native_calls.append(("update", from_revision, revision.id))
        yield UpdateProgress("updating", revision.id, 0, replicas)
        self.time.sleep(1)
        if self.platform.crash_on_update:
            self.platform.crash_on_update = False
            raise Crash
        yield UpdateProgress("updating", revision.id, 1, replicas)
        outcome = self.platform.updates.pop(0)
        if outcome == "completed":
            self.remove_revision(project.name, revision.service, from_revision, progress)
            self.apply_revision(project, revision, replicas, progress)
            yield UpdateProgress("completed", revision.id, replicas, replicas)
        elif outcome == "rollback_completed":
            yield UpdateProgress("rollback_completed", from_revision, replicas, replicas, "update failed")
        else:
            # half-way: one instance of each, as Swarm leaves a paused update
            self.apply_revision(project, revision, 1, progress)
            yield UpdateProgress(outcome, revision.id, 1, replicas, "update paused", ("task: non-zero exit (3)",))  # type: ignore[arg-type]

    def native_rollback(self, app: str, service: str, revision: str, progress: Progress) -> Iterator[UpdateProgress]:
        self.native_calls.append(("rollback", revision))
        self.remove_revision(app, service, revision, progress)
        yield UpdateProgress(self.platform.rollback, "previous", 2, 2)  # type: ignore[arg-type]


@pytest.fixture
def native(tmp_path: Path) -> Rig:
    time = FakeTime()
    store = StateStore.open(f"sqlite:///{tmp_path}/s.db")
    return Rig(store, NativeMemoryDriver("mem", time), time, CollectingProgress())


def driver(rig: Rig) -> NativeMemoryDriver:
    assert isinstance(rig.driver, NativeMemoryDriver)
    return rig.driver


ROLLING = {"strategy": "rolling"}


def test_a_plain_rolling_update_is_the_platforms_own(native: Rig) -> None:
    v1, v2 = versions(ROLLING)
    engine, canary, stable = start(native, v1, v2)
    assert stable is not None
    assert engine.run() == "succeeded"
    assert driver(native).native_calls == [("update", stable.id, canary.id)]
    assert running(native) == {canary.id: 2}
    # no engine batches: the platform replaced the instances, the engine never scaled anything itself
    assert not [c for c in native.driver.calls if c[0] == "route"]
    events = native.store.events(deployment_id=engine.deployment.id)
    kinds = [e.kind for e in events]
    assert "rollout.promoted" in kinds and "rollout.succeeded" in kinds
    # the platform's progress is in the event log (what `escadre rollout status` shows)
    updates = [e.message for e in events if e.kind == "rollout.update"]
    assert updates == [
        f"updating: 0/2 on {canary.id}",
        f"updating: 1/2 on {canary.id}",
        f"completed: 2/2 on {canary.id}",
    ]


def test_the_platforms_own_rollback_ends_aborted(native: Rig) -> None:
    driver(native).platform.updates = ["rollback_completed"]
    v1, v2 = versions(ROLLING)
    engine, _, stable = start(native, v1, v2)
    assert stable is not None
    assert engine.run() == "aborted"
    record = native.store.get_deployment(engine.deployment.id)
    assert record is not None and "rolled the update back" in record.message
    assert running(native) == {stable.id: 2}
    assert [c[0] for c in driver(native).native_calls] == ["update"]  # nothing more to roll back


def test_a_paused_update_resumes_when_promoted(native: Rig) -> None:
    driver(native).platform.updates = ["paused", "completed"]
    v1, v2 = versions(ROLLING)
    engine, canary, stable = start(native, v1, v2)
    assert stable is not None
    native.time.at(30, lambda: native.store.add_command(engine.deployment.id, "promote", actor="ops"))
    assert engine.run() == "succeeded"
    assert [c[0] for c in driver(native).native_calls] == ["update", "update"]
    paused = [e for e in native.store.events(deployment_id=engine.deployment.id) if e.kind == "rollout.paused"]
    assert paused and "task: non-zero exit (3)" in paused[0].message
    assert running(native) == {canary.id: 2}


def test_abort_during_a_paused_update_uses_the_platforms_rollback(native: Rig) -> None:
    driver(native).platform.updates = ["paused"]
    v1, v2 = versions(ROLLING)
    engine, canary, stable = start(native, v1, v2)
    assert stable is not None
    native.time.at(30, lambda: native.store.add_command(engine.deployment.id, "abort", actor="ops"))
    assert engine.run() == "aborted"
    assert driver(native).native_calls[-1] == ("rollback", canary.id)
    assert running(native) == {stable.id: 2}


def test_a_rollback_that_does_not_complete_fails_loudly(native: Rig) -> None:
    driver(native).platform.updates = ["paused"]
    driver(native).platform.rollback = "rollback_paused"
    v1, v2 = versions(ROLLING)
    engine, _, _ = start(native, v1, v2)
    native.time.at(30, lambda: native.store.add_command(engine.deployment.id, "abort"))
    assert engine.run() == "failed"
    record = native.store.get_deployment(engine.deployment.id)
    assert record is not None and "did not complete" in record.message


def test_a_crash_mid_update_follows_it_again_on_restart(native: Rig) -> None:
    driver(native).platform.crash_on_update = True
    v1, v2 = versions(ROLLING)
    engine, canary, stable = start(native, v1, v2)
    with pytest.raises(Crash):
        engine.run()
    record = native.store.get_deployment(engine.deployment.id)
    assert record is not None and record.status == "progressing" and record.checkpoint["native"] == "updating"
    resumed = RolloutEngine(native.deps(), v2, record, canary, stable, replicas=2)
    assert resumed.run() == "succeeded"
    assert running(native) == {canary.id: 2}
    kinds = [e.kind for e in native.store.events(deployment_id=record.id)]
    assert "rollout.resumed" in kinds


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "rolling", "analysis": {"templates": ["error-rate"]}},
        {"strategy": "rolling", "route": True},
    ],
    ids=["with-background-analysis", "routed"],
)
def test_the_engine_keeps_the_batches_when_the_platform_cannot_see_revisions_apart(
    native: Rig, rollout: dict[str, object]
) -> None:
    route = rollout.pop("route", None)
    settings = {
        "analysis_templates": {"error-rate": {"metrics": [{"name": "e", "provider": {"prometheus": {"query": "x"}}}]}}
    }
    v1, v2 = versions(rollout, **settings)
    if route:
        v2 = with_route(v2)
    engine, canary, _ = start(native, v1, v2)
    assert engine.run() == "succeeded"
    assert driver(native).native_calls == []
    assert running(native) == {canary.id: 2}


def test_a_target_without_the_capability_gets_the_engines_batches(tmp_path: Path) -> None:
    time = FakeTime()
    rig = Rig(StateStore.open(f"sqlite:///{tmp_path}/s.db"), MemoryDriver("mem"), time, CollectingProgress())
    v1, v2 = versions(ROLLING)
    engine, canary, _ = start(rig, v1, v2)
    assert engine.run() == "succeeded"
    assert running(rig) == {canary.id: 2}
    assert ("apply_revision", "api", canary.id, "2") in rig.driver.calls


def with_route(project: Project) -> Project:
    svc = project.services["api"]
    base = svc.settings.model_dump(exclude_none=True) if svc.settings is not None else {}
    settings = ServiceSettings.model_validate({**base, "route": {"enabled": True, "port": 80}})
    services = dict(project.services)
    services["api"] = replace(svc, settings=settings)
    project = replace(project, services=services)
    assert project.is_routed("api")
    return project
