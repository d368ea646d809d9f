"""Strategies are pure generators: drive them with scripted outcomes and read the steps they yield."""

from __future__ import annotations

from collections.abc import Callable

from escadre.model.project import UpdateConfig
from escadre.model.settings import RolloutSpec
from escadre.rollout.steps import (
    OK,
    Analyze,
    Outcome,
    Pause,
    Promote,
    RetireOld,
    Scale,
    SetPreview,
    SetWeight,
    Step,
    WaitReady,
    describe,
)
from escadre.rollout.strategies import RolloutPlan, strategy_for


def drive(plan: RolloutPlan, outcome: Callable[[Step], Outcome] = lambda s: OK) -> list[Step]:
    gen = strategy_for(plan)
    steps: list[Step] = []
    try:
        step = next(gen)
        while True:
            steps.append(step)
            step = gen.send(outcome(step))
    except StopIteration:
        return steps


def plan(
    strategy: str, replicas: int = 2, *, routed: bool = True, has_stable: bool = True, **spec: object
) -> RolloutPlan:
    return RolloutPlan(
        replicas=replicas,
        has_stable=has_stable,
        stable_replicas=replicas if has_stable else 0,
        routed=routed,
        spec=RolloutSpec.model_validate({"strategy": strategy, **spec}),
    )


def test_first_deploy_is_a_plain_start_for_every_strategy() -> None:
    for strategy in ("recreate", "rolling", "blue-green", "canary"):
        steps = drive(plan(strategy, has_stable=False))
        assert steps == [Scale("canary", 2), WaitReady("canary", 2), SetWeight(100), Promote(), RetireOld(0)]


def test_recreate_stops_old_first() -> None:
    assert drive(plan("recreate"))[:2] == [Scale("stable", 0), Scale("canary", 2)]


def test_rolling_stop_first_one_at_a_time_by_default() -> None:
    steps = drive(plan("rolling", replicas=3))
    assert steps == [
        Scale("stable", 2),
        Scale("canary", 1),
        WaitReady("canary", 1),
        SetWeight(33),
        Scale("stable", 1),
        Scale("canary", 2),
        WaitReady("canary", 2),
        SetWeight(67),
        Scale("stable", 0),
        Scale("canary", 3),
        WaitReady("canary", 3),
        SetWeight(100),
        SetWeight(100),
        Promote(),
        RetireOld(0),
    ]


def test_rolling_start_first_with_parallelism_delay_and_monitor() -> None:
    p = RolloutPlan(
        4, True, 4, False, RolloutSpec(), UpdateConfig(parallelism=2, order="start-first", delay=5, monitor=3)
    )
    steps = drive(p)
    assert steps[:5] == [
        Scale("canary", 2),
        WaitReady("canary", 2),
        Scale("stable", 2),
        Pause(3, "monitor"),
        WaitReady("canary", 2),
    ]
    assert Pause(5, "update delay") in steps
    assert steps[-3:] == [SetWeight(100), Promote(), RetireOld(0)]


def test_rolling_start_first_is_not_used_when_revisions_cannot_coexist() -> None:
    p = RolloutPlan(2, True, 2, False, RolloutSpec(), UpdateConfig(order="start-first"), exclusive=True)
    assert drive(p)[0] == Scale("stable", 1)


def test_rolling_failure_actions() -> None:
    def fail_ready(step: Step) -> Outcome:
        return Outcome("failed", "unhealthy") if isinstance(step, WaitReady) else OK

    base = {"replicas": 2, "has_stable": True, "stable_replicas": 2, "routed": False, "spec": RolloutSpec()}
    paused = drive(RolloutPlan(**base, update=UpdateConfig(failure_action="pause")), fail_ready)  # type: ignore[arg-type]
    assert Pause(None, "update failed: unhealthy") in paused  # a human promoted each time: it carried on
    assert paused[-2:] == [Promote(), RetireOld(0)]

    def fail_and_abort(step: Step) -> Outcome:
        return Outcome("failed", "unhealthy") if isinstance(step, WaitReady | Pause) else OK

    aborted = drive(RolloutPlan(**base, update=UpdateConfig(failure_action="pause")), fail_and_abort)  # type: ignore[arg-type]
    assert aborted[-1] == Pause(None, "update failed: unhealthy")
    rolled = drive(RolloutPlan(**base, update=UpdateConfig(failure_action="rollback")), fail_ready)  # type: ignore[arg-type]
    assert rolled[-1] == WaitReady("canary", 1)
    carried = drive(RolloutPlan(**base, update=UpdateConfig(failure_action="continue")), fail_ready)  # type: ignore[arg-type]
    assert carried[-2:] == [Promote(), RetireOld(0)]


def test_blue_green_previews_then_waits_for_promotion() -> None:
    steps = drive(plan("blue-green", preview_port=8081, scale_down_delay="10s"))
    assert steps == [
        Scale("canary", 2),
        WaitReady("canary", 2),
        SetPreview(True),
        Pause(None, "waiting for promotion"),
        SetWeight(100),
        Promote(),
        SetPreview(False),
        RetireOld(10.0),
    ]


def test_blue_green_auto_promote_after_analysis() -> None:
    steps = drive(
        plan("blue-green", auto_promote=True, auto_promote_after="30s", pre_promotion_analysis={"templates": ["smoke"]})
    )
    assert steps[3] == Analyze(("smoke",), (), "pre-promotion analysis")
    assert steps[4] == Pause(30.0, "auto-promote")


def test_blue_green_never_switches_after_failed_preview_analysis() -> None:
    def fail_analysis(step: Step) -> Outcome:
        return Outcome("failed") if isinstance(step, Analyze) else OK

    steps = drive(plan("blue-green", pre_promotion_analysis={"templates": ["smoke"]}), fail_analysis)
    assert SetWeight(100) not in steps and Promote() not in steps


def test_canary_with_router_grows_the_canary_with_the_weight() -> None:
    steps = drive(
        plan(
            "canary",
            replicas=4,
            steps=[
                {"set_weight": 10},
                {"pause": "30s"},
                {"analysis": {"templates": ["error-rate"]}},
                {"set_weight": 50},
                {"pause": {}},
            ],
            scale_down_delay="5s",
        )
    )
    assert steps == [
        Scale("canary", 1),
        WaitReady("canary", 1),
        SetWeight(10),
        Pause(30.0, "step"),
        Analyze(("error-rate",), ()),
        Scale("canary", 2),
        WaitReady("canary", 2),
        SetWeight(50),
        Pause(None, "step"),
        Scale("canary", 4),
        WaitReady("canary", 4),
        SetWeight(100),
        Promote(),
        RetireOld(5.0),
    ]


def test_canary_without_router_splits_by_replica_ratio() -> None:
    steps = drive(plan("canary", replicas=4, routed=False, steps=[{"set_weight": 25}, {"set_weight": 50}]))
    assert steps[:4] == [Scale("canary", 1), WaitReady("canary", 1), Scale("stable", 3), SetWeight(25)]
    assert Scale("stable", 2) in steps
    assert steps[-4:] == [SetWeight(100), Scale("stable", 0), Promote(), RetireOld(30.0)]


def test_canary_stops_at_a_failed_analysis() -> None:
    def fail(step: Step) -> Outcome:
        return Outcome("failed", "error rate 0.3") if isinstance(step, Analyze) else OK

    steps = drive(
        plan("canary", steps=[{"set_weight": 20}, {"analysis": {"templates": ["e"]}}, {"set_weight": 80}]), fail
    )
    assert steps[-1] == Analyze(("e",), ())
    assert SetWeight(80) not in steps


def test_set_canary_scale_overrides_the_weight_based_size() -> None:
    steps = drive(plan("canary", replicas=10, steps=[{"set_canary_scale": 3}, {"set_weight": 10}]))
    assert steps[:3] == [Scale("canary", 3), WaitReady("canary", 3), SetWeight(10)]


def test_descriptions_are_readable() -> None:
    assert describe(SetWeight(10)) == "set canary weight 10%"
    assert describe(Pause(None)) == "pause until promoted"
    assert describe(Analyze(("a", "b"), (), "analysis")) == "analysis: a, b"
