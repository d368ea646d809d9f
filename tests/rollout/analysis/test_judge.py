"""Conditions → measurement phase (Argo's rules, except that no data and no condition are inconclusive),
baseline comparisons and their shorthands."""

from __future__ import annotations

import math
from typing import Any

import pytest

from escadre.rollout.analysis import Reading
from escadre.rollout.analysis.judge import conditions, judge, ratio, variable_names
from tests.rollout.analysis.helpers import metric


@pytest.mark.parametrize(
    ("success", "failure", "value", "phase"),
    [
        ("result < 1", None, 0.5, "successful"),
        ("result < 1", None, 2.0, "failed"),
        (None, "result > 1", 0.5, "successful"),
        (None, "result > 1", 2.0, "failed"),
        ("result < 1", "result > 2", 0.5, "successful"),
        ("result < 1", "result > 2", 3.0, "failed"),
        ("result < 1", "result > 2", 1.5, "inconclusive"),  # both given, neither true
        ("result < 5", "result > 2", 3.0, "failed"),  # both true: failure wins
        (None, None, 1.0, "inconclusive"),  # nothing to judge with
    ],
)
def test_condition_rules(success: str | None, failure: str | None, value: float, phase: str) -> None:
    verdict = judge(metric(success_condition=success, failure_condition=failure), Reading(value))
    assert verdict.phase == phase
    assert verdict.value == value


def test_lists_and_functions_in_conditions() -> None:
    m = metric(success_condition="max(result) < 0.1 and len(result) == 2")
    assert judge(m, Reading([0.01, 0.05])).phase == "successful"
    assert judge(m, Reading([0.01, 0.5])).phase == "failed"


def test_http_variables_reach_conditions() -> None:
    m = metric(provider={"http": {}}, success_condition="result >= 0.95 and p99 < 0.5")
    good = Reading(0.97, {"p50": 0.1, "p90": 0.2, "p99": 0.3, "error_rate": 0.03, "requests": 20})
    slow = Reading(0.97, {**good.variables, "p99": 0.9})
    assert judge(m, good).phase == "successful"
    assert judge(m, slow).phase == "failed"
    assert judge(m, good).extra["p99"] == 0.3
    assert "p99" in variable_names(m)
    assert "p99" not in variable_names(metric())


def test_no_data_messages_say_why() -> None:
    verdict = judge(metric(success_condition="result < 1"), Reading(None, detail="query 'x' returned an empty vector"))
    assert verdict.phase == "inconclusive"
    assert verdict.message == "no data: query 'x' returned an empty vector"


def test_ratio() -> None:
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(0.0, 0.0) == 1.0
    assert ratio(1.0, 0.0) == math.inf
    assert ratio(-1.0, 0.0) == -math.inf


def baseline_metric(**fields: Any) -> Any:
    return metric("b", **fields)


@pytest.mark.parametrize(
    ("baseline", "canary", "stable", "phase"),
    [
        ({"max_ratio": 1.2}, 0.24, 0.2, "successful"),
        ({"max_ratio": 1.2}, 0.3, 0.2, "failed"),
        ({"max_ratio": 1.2}, 0.1, 0.0, "failed"),  # ratio inf
        ({"max_ratio": 1.2}, 0.0, 0.0, "successful"),  # ratio 1
        ({"max_increase": 0.05}, 0.24, 0.2, "successful"),
        ({"max_increase": 0.05}, 0.26, 0.2, "failed"),
        ({"max_ratio": 2, "max_increase": 0.05}, 0.3, 0.2, "failed"),  # both shorthands must hold
        ({}, 0.3, 0.2, "inconclusive"),  # baseline mode without any condition
    ],
)
def test_baseline_shorthands(baseline: dict[str, float], canary: float, stable: float, phase: str) -> None:
    verdict = judge(baseline_metric(baseline=baseline), Reading(canary), Reading(stable))
    assert verdict.phase == phase
    assert (verdict.value, verdict.baseline) == (canary, stable)


def test_explicit_condition_replaces_the_shorthand() -> None:
    m = baseline_metric(baseline={"max_ratio": 1.0}, success_condition="result - baseline < 0.5")
    assert conditions(m) == ("result - baseline < 0.5", None)
    assert judge(m, Reading(0.4), Reading(0.2)).phase == "successful"


def test_baseline_variables_of_extra_names() -> None:
    m = metric(provider={"http": {}}, baseline={}, success_condition="p99 <= baseline_p99 * 1.5 and ratio > 0.9")
    canary = Reading(1.0, {"p99": 0.3})
    assert judge(m, canary, Reading(1.0, {"p99": 0.25})).phase == "successful"
    assert judge(m, canary, Reading(1.0, {"p99": 0.1})).phase == "failed"


def test_baseline_without_data_on_either_side_is_inconclusive() -> None:
    m = baseline_metric(baseline={"max_ratio": 1.2})
    assert judge(m, Reading(None), Reading(0.1)).phase == "inconclusive"
    stable = judge(m, Reading(0.1), Reading(math.nan, detail="query 'q' returned one series"))
    assert stable.phase == "inconclusive"
    assert "stable revision" in stable.message


def test_baseline_needs_one_number_per_revision() -> None:
    verdict = judge(baseline_metric(baseline={"max_ratio": 1.2}), Reading([0.1, 0.2]), Reading(0.1))
    assert verdict.phase == "error"
    assert "aggregate the query" in verdict.message


def test_health_default_condition() -> None:
    m = metric(provider={"health": {"max_restarts": 1}})
    assert conditions(m) == ("result <= 1", None)
    assert judge(m, Reading(1.0)).phase == "successful"
    assert judge(m, Reading(2.0)).phase == "failed"
