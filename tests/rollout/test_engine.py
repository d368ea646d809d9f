"""The rollout engine against the in-memory driver, with a fake clock and scripted analyses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from escadre.core.progress import CollectingProgress, NullProgress
from escadre.drivers.memory import MemoryDriver
from escadre.model.project import Project
from escadre.model.revision import Revision
from escadre.model.settings import ServiceSettings
from escadre.rollout.engine import EngineDeps, RolloutEngine
from escadre.rollout.steps import Analyze
from escadre.state.store import StateStore
from tests.drivers.conformance import revision_of
from tests.support import project, service


class Crash(BaseException):
    """Simulates kill -9: escapes everything, nothing cleans up."""


@dataclass
class FakeTime:
    now: float = 1_000.0
    hooks: list[tuple[float, Callable[[], None]]] = field(default_factory=list)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.05)
        due = [h for h in self.hooks if h[0] <= self.now]
        self.hooks = [h for h in self.hooks if h[0] > self.now]
        for _, fn in due:
            fn()

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        self.hooks.append((self.now + delay, fn))


@dataclass
class Result:
    phase: str
    message: str = ""


class FakeRun:
    """An analysis that reaches ``phase`` after ``after`` seconds of fake time."""

    def __init__(self, time: FakeTime, phase: str, after: float) -> None:
        self.time, self.phase, self.after = time, phase, after
        self.started: float | None = None
        self.stopped = False

    def start(self) -> None:
        self.started = self.time.now

    def stop(self) -> None:
        self.stopped = True

    def result(self) -> Result:
        assert self.started is not None
        if self.time.now - self.started >= self.after:
            return Result(self.phase, f"{self.phase} by script")
        return Result("running")


@dataclass
class Rig:
    store: StateStore
    driver: MemoryDriver
    time: FakeTime
    progress: CollectingProgress
    analyses: dict[str, tuple[str, float]] = field(default_factory=dict)
    runs: list[FakeRun] = field(default_factory=list)

    def deps(self) -> EngineDeps:
        def analysis(step: Analyze | None, name: str, on_measurement: Callable[[dict[str, Any]], None]) -> FakeRun:
            key = "background" if step is None else step.templates[0]
            phase, after = self.analyses.get(key, ("successful", 5.0))
            run = FakeRun(self.time, phase, after)
            self.runs.append(run)
            return run

        return EngineDeps(
            self.store,
            self.driver,
            self.progress,
            "mem",
            actor="tester",
            wait_timeout=60,
            analysis=analysis,
            clock=self.time.clock,
            wall=self.time.clock,
            sleep=self.time.sleep,
        )

    def weights(self) -> list[int]:
        return [p.canary_weight for _, _, p in self.driver.routes]


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(StateStore.open(f"sqlite:///{tmp_path}/s.db"), MemoryDriver("mem"), FakeTime(), CollectingProgress())


def versions(rollout: dict[str, Any], replicas: int = 2, **project_settings: Any) -> tuple[Project, Project]:
    settings = ServiceSettings.model_validate({"rollout": rollout})
    v1 = project("shop", service("api", replicas=replicas, healthy_after=0, environment={"V": "1"}))
    v2 = project(
        "shop", replace(service("api", replicas=replicas, healthy_after=0, environment={"V": "2"}), settings=settings)
    )
    if project_settings:
        from escadre.model.settings import ProjectSettings

        v2 = replace(v2, settings=ProjectSettings.model_validate(project_settings))
    return v1, v2


def start(rig: Rig, v1: Project | None, v2: Project) -> tuple[RolloutEngine, Revision, Revision | None]:
    stable = None
    if v1 is not None:
        rig.driver.ensure_shared(v1, NullProgress())
        stable = revision_of(rig.driver, v1, "api")
        stable = replace(stable, service_model=v1.services["api"])
        rig.driver.apply_revision(v1, stable, v1.services["api"].replicas, NullProgress())
    canary = revision_of(rig.driver, v2, "api")
    dep = rig.store.start_deployment(
        "shop",
        "mem",
        "api",
        canary.id,
        from_revision=stable.id if stable else None,
        strategy=v2.rollout_for("api").strategy,
    )
    engine = RolloutEngine(rig.deps(), v2, dep, canary, stable, replicas=v2.services["api"].replicas)
    return engine, canary, stable


def running(rig: Rig) -> dict[str, int]:
    return {r.revision: r.desired for r in rig.driver.observe("shop", "api").revisions}


CANARY = {
    "strategy": "canary",
    "scale_down_delay": "10s",
    "steps": [
        {"set_weight": 10},
        {"pause": "30s"},
        {"analysis": {"templates": ["error-rate"]}},
        {"set_weight": 50},
        {"pause": {}},
    ],
}
TEMPLATES = {
    "analysis_templates": {"error-rate": {"metrics": [{"name": "e", "provider": {"prometheus": {"query": "x"}}}]}}
}


def test_canary_promoted_after_a_human_promotes(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    engine, canary, stable = start(rig, v1, v2)
    assert stable is not None
    rig.time.at(120, lambda: rig.store.add_command(engine.deployment.id, "promote", actor="ops"))
    assert engine.run() == "succeeded"
    assert running(rig) == {canary.id: 2}
    assert rig.weights()[:1] == [0] and 10 in rig.weights() and 50 in rig.weights()
    assert rig.driver.traffic[("shop", "api")].stable == canary.id
    record = rig.store.get_deployment(engine.deployment.id)
    assert record is not None and record.status == "succeeded"
    kinds = [e.kind for e in rig.store.events(deployment_id=engine.deployment.id)]
    assert "rollout.paused" in kinds and "rollout.promoted" in kinds and kinds[-1] == "rollout.succeeded"


def test_failed_analysis_aborts_and_sends_traffic_back_first(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    rig.analyses["error-rate"] = ("failed", 3.0)
    engine, canary, stable = start(rig, v1, v2)
    assert stable is not None
    assert engine.run() == "aborted"
    assert running(rig) == {stable.id: 2}
    assert rig.weights()[-1] == 0
    calls = [c[0] for c in rig.driver.calls]
    last_route = max(i for i, c in enumerate(calls) if c == "route")
    removal = max(i for i, c in enumerate(rig.driver.calls) if c[0] == "remove_revision" and c[2] == canary.id)
    assert last_route < removal  # traffic back to stable before the canary goes
    record = rig.store.get_deployment(engine.deployment.id)
    assert record is not None and record.status == "aborted" and "failed by script" in record.message


def test_inconclusive_analysis_pauses_for_a_human(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    rig.analyses["error-rate"] = ("inconclusive", 2.0)
    engine, _, stable = start(rig, v1, v2)
    assert stable is not None
    statuses: list[str] = []

    def look() -> None:
        record = rig.store.get_deployment(engine.deployment.id)
        assert record is not None
        statuses.append(record.status)
        rig.store.add_command(engine.deployment.id, "abort", actor="ops")

    rig.time.at(200, look)
    assert engine.run() == "aborted"
    assert statuses == ["paused"]
    assert running(rig) == {stable.id: 2}


def test_background_analysis_failure_aborts_during_a_pause(rig: Rig) -> None:
    spec = {**CANARY, "analysis": {"templates": ["error-rate"]}}
    v1, v2 = versions(spec, **TEMPLATES)
    rig.analyses["background"] = ("failed", 12.0)
    engine, _, _ = start(rig, v1, v2)
    assert engine.run() == "aborted"
    record = rig.store.get_deployment(engine.deployment.id)
    assert record is not None and "background analysis failed" in record.message
    # aborted inside the 30 s pause, not at its end
    assert rig.time.now - 1_000 < 30


def test_user_abort_while_paused(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    engine, _, stable = start(rig, v1, v2)
    rig.time.at(10, lambda: rig.store.add_command(engine.deployment.id, "abort", actor="ops"))
    assert engine.run() == "aborted"
    assert stable is not None and running(rig) == {stable.id: 2}


def test_full_promotion_skips_the_remaining_steps(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    engine, canary, _ = start(rig, v1, v2)
    rig.time.at(5, lambda: rig.store.add_command(engine.deployment.id, "promote", {"full": True}))
    assert engine.run() == "succeeded"
    assert not rig.runs  # the analysis step was skipped
    assert rig.time.now - 1_000 < 30
    assert running(rig) == {canary.id: 2}


def test_pause_and_resume_commands(rig: Rig) -> None:
    v1, v2 = versions({"strategy": "canary", "scale_down_delay": 0, "steps": [{"set_weight": 50}, {"pause": "5s"}]})
    engine, _, _ = start(rig, v1, v2)
    rig.time.at(1, lambda: rig.store.add_command(engine.deployment.id, "pause"))
    rig.time.at(100, lambda: rig.store.add_command(engine.deployment.id, "resume"))
    assert engine.run() == "succeeded"
    assert rig.time.now - 1_000 >= 100


def test_blue_green_preview_then_switch_then_retire(rig: Rig) -> None:
    v1, v2 = versions({"strategy": "blue-green", "preview_port": 9001, "scale_down_delay": "20s"})
    engine, canary, stable = start(rig, v1, v2)
    assert stable is not None
    seen: list[dict[str, int]] = []
    rig.time.at(50, lambda: (seen.append(running(rig)), rig.store.add_command(engine.deployment.id, "promote")))  # type: ignore[func-returns-value]
    assert engine.run() == "succeeded"
    assert seen == [{stable.id: 2, canary.id: 2}]
    previews = [p.preview for _, _, p in rig.driver.routes]
    assert canary.id in previews and previews[-1] is None
    switched = [p for _, _, p in rig.driver.routes if p.stable == canary.id]
    assert switched and all(p.preview is None for p in switched)
    assert running(rig) == {canary.id: 2}


def test_first_deploy_has_no_stable(rig: Rig) -> None:
    _, v2 = versions(CANARY, **TEMPLATES)
    engine, canary, _ = start(rig, None, v2)
    assert engine.run() == "succeeded"
    assert running(rig) == {canary.id: 2}


def test_canary_that_never_gets_ready_is_aborted(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    rig.driver.unhealthy = {"api@" + revision_of(rig.driver, v2, "api").id}
    engine, _, stable = start(rig, v1, v2)
    assert engine.run() == "aborted"
    assert stable is not None and running(rig) == {stable.id: 2}


def test_replica_ratio_without_a_router(rig: Rig) -> None:
    rig.driver.routed = False
    v1, v2 = versions(
        {"strategy": "canary", "scale_down_delay": 0, "steps": [{"set_weight": 50}, {"pause": "1s"}]}, replicas=4
    )
    engine, canary, stable = start(rig, v1, v2)
    assert stable is not None
    seen: list[dict[str, int]] = []
    rig.time.at(0.5, lambda: seen.append(running(rig)))
    assert engine.run() == "succeeded"
    assert seen == [{stable.id: 2, canary.id: 2}]


def test_resume_after_a_crash_continues_from_the_checkpoint(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    engine, canary, stable = start(rig, v1, v2)
    assert stable is not None

    def crash() -> None:
        raise Crash

    rig.time.at(15, crash)  # inside the 30 s pause
    with pytest.raises(Crash):
        engine.run()
    record = rig.store.get_deployment(engine.deployment.id)
    assert record is not None and record.status == "progressing" and record.step == 3
    calls_before = len(rig.driver.calls)
    rig.time.at(200, lambda: rig.store.add_command(record.id, "promote"))
    resumed = RolloutEngine(rig.deps(), v2, record, canary, stable, replicas=2)
    assert resumed.run() == "succeeded"
    # the pause resumed with its remaining time, the analysis ran, nothing before the crash was redone
    assert rig.time.now - 1_000 >= 30
    after = [c for c in rig.driver.calls[calls_before:] if c[0] == "apply_revision" and c[2] == canary.id]
    assert after == [("apply_revision", "api", canary.id, "2")]  # only the promotion's scale-up
    assert running(rig) == {canary.id: 2}
    kinds = [e.kind for e in rig.store.events(deployment_id=record.id)]
    assert "rollout.resumed" in kinds


def test_measurements_become_events(rig: Rig) -> None:
    v1, v2 = versions(CANARY, **TEMPLATES)
    engine, _, _ = start(rig, v1, v2)
    engine._measured(
        {"metric": "error-rate", "phase": "failed", "value": 0.31, "baseline": 0.0, "message": "result < 0.05 is false"}
    )
    (event,) = rig.store.events(deployment_id=engine.deployment.id, newest_first=True, limit=1)
    assert event.kind == "rollout.measurement" and event.level == "error"
    assert event.message == "error-rate: failed (0.31 vs stable 0.0) — result < 0.05 is false"
    assert event.data["measurement"]["value"] == 0.31


def test_replica_ratio_canary_ends_with_the_new_revision_running(rig: Rig) -> None:
    rig.driver.routed = False
    v1, v2 = versions({"strategy": "canary", "scale_down_delay": 0, "steps": [{"set_weight": 50}]}, replicas=2)
    engine, canary, _ = start(rig, v1, v2)
    assert engine.run() == "succeeded"
    assert running(rig) == {canary.id: 2}
