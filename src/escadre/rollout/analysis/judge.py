"""Turning readings into a measurement phase: conditions, baseline comparison and *no data*.

The rules are Argo Rollouts' (``EvaluateResult``), with one deliberate difference: a metric with no
condition at all is *inconclusive*, not successful, and so is a reading without data. Flagger's most
reported problem is a canary promoted (or rolled back) because a query matched nothing — a typo in a
label, a service that got no traffic yet. Here missing data can only pause the rollout for a human.

* only ``success_condition``: true → successful, false → failed;
* only ``failure_condition``: true → failed, false → successful;
* both: failure true → failed; else success true → successful; else inconclusive;
* none: the provider's or the baseline's implied condition (``result <= max_restarts`` for health,
  ``ratio <= max_ratio`` / ``result - baseline <= max_increase`` in baseline mode), else inconclusive.

In baseline mode the same reading is taken on the stable revision and conditions also see ``baseline``
and ``ratio`` (canary / baseline: ``inf`` when only the baseline is 0, 1.0 when both are), plus the
provider's extra variables prefixed with ``baseline_`` (``baseline_p99``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escadre.rollout.analysis.model import MeasurementPhase, Reading
from escadre.rollout.conditions import ConditionError, evaluate

if TYPE_CHECKING:
    from escadre.model.settings import Metric

HTTP_VARIABLES = ("p50", "p90", "p99", "error_rate", "requests")
"""Extra names the built-in HTTP probe gives conditions, besides ``result`` (the success rate)."""
HEALTH_VARIABLES = ("restarts", "unhealthy")
"""Extra names of the health provider, whose ``result`` is their sum."""


@dataclass(frozen=True)
class Verdict:
    phase: MeasurementPhase
    message: str
    value: Any = None
    baseline: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def extra_names(metric: Metric) -> tuple[str, ...]:
    return {"http": HTTP_VARIABLES, "health": HEALTH_VARIABLES}.get(metric.provider.kind, ())


def variable_names(metric: Metric) -> tuple[str, ...]:
    """Every name ``metric``'s conditions may use."""
    extras = extra_names(metric)
    names = ["result", *extras]
    if metric.baseline is not None:
        names += ["baseline", "ratio", *(f"baseline_{x}" for x in extras)]
    return (*names, "true", "false")


def conditions(metric: Metric) -> tuple[str | None, str | None]:
    """The (success, failure) conditions applied: the user's, else the implied ones."""
    success = (metric.success_condition or "").strip() or None
    failure = (metric.failure_condition or "").strip() or None
    if success or failure:
        return success, failure
    baseline = metric.baseline
    if baseline is not None and (baseline.max_ratio is not None or baseline.max_increase is not None):
        parts = []
        if baseline.max_ratio is not None:
            parts.append(f"ratio <= {baseline.max_ratio!r}")
        if baseline.max_increase is not None:
            parts.append(f"result - baseline <= {baseline.max_increase!r}")
        return " and ".join(parts), None
    if metric.provider.health is not None:
        return f"result <= {metric.provider.health.max_restarts}", None
    return None, None


def ratio(result: float, baseline: float) -> float:
    if baseline == 0:
        if result == 0:
            return 1.0
        return math.inf if result > 0 else -math.inf
    return result / baseline


def data(value: Any) -> Any:
    """``value`` if it is data; ``None`` for no data (``None``, NaN, an empty or all-NaN list)."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        if not value or all(isinstance(v, float) and math.isnan(v) for v in value):
            return None
        return list(value)
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        head = ", ".join(show(v) for v in value[:5])
        return f"[{head}{', ...' if len(value) > 5 else ''}]"
    return repr(value)


def judge(metric: Metric, canary: Reading, stable: Reading | None = None) -> Verdict:
    """The phase of one measurement from the canary's reading and, in baseline mode, the stable's."""
    extra = dict(canary.variables)
    if canary.verdict is not None:
        return Verdict(canary.verdict, canary.detail or f"the provider answered {canary.verdict}", extra=extra)
    value = data(canary.value)
    if value is None:
        return Verdict("inconclusive", f"no data: {canary.detail or 'the provider returned no value'}", extra=extra)
    variables: dict[str, Any] = {"result": value, **canary.variables}
    shown = f"result={show(value)}"
    base = None
    if metric.baseline is not None:
        if stable is None:
            raise AssertionError("baseline mode needs the stable revision's reading")
        if stable.verdict == "inconclusive":
            return Verdict("inconclusive", f"stable revision: {stable.detail or 'inconclusive'}", value, extra=extra)
        base = data(stable.value)
        if base is None:
            detail = stable.detail or "the provider returned no value"
            return Verdict("inconclusive", f"no data for the stable revision: {detail}", value, extra=extra)
        several = [name for name, v in (("canary", value), ("stable", base)) if isinstance(v, list)]
        if several:
            message = (
                f"a baseline comparison needs one number per revision, the {' and '.join(several)} reading "
                "has several series: aggregate the query (sum(...), max(...))"
            )
            return Verdict("error", message, value, base, extra)
        if not (_number(value) and _number(base)):
            message = f"a baseline comparison needs numbers, got {show(value)} and {show(base)}"
            return Verdict("error", message, value, base, extra)
        variables.update(baseline=base, ratio=ratio(value, base))
        variables.update({f"baseline_{k}": v for k, v in stable.variables.items()})
        extra.update({f"baseline_{k}": v for k, v in stable.variables.items()})
        shown += f", baseline={show(base)}, ratio={show(variables['ratio'])}"
    success, failure = conditions(metric)
    if success is None and failure is None:
        message = f"{shown}: no success_condition nor failure_condition to judge it"
        return Verdict("inconclusive", message, value, base, extra)
    try:
        succeeded = evaluate(success, variables) if success else None
        failed = evaluate(failure, variables) if failure else None
    except ConditionError as exc:
        return Verdict("error", str(exc), value, base, extra)
    if failure and failed:
        return Verdict("failed", f"{shown}: failure_condition {failure!r} is true", value, base, extra)
    if success and not succeeded and not failure:
        return Verdict("failed", f"{shown}: success_condition {success!r} is false", value, base, extra)
    if success and succeeded:
        return Verdict("successful", f"{shown}: success_condition {success!r} is true", value, base, extra)
    if not success:
        return Verdict("successful", f"{shown}: failure_condition {failure!r} is false", value, base, extra)
    message = f"{shown}: neither success_condition {success!r} nor failure_condition {failure!r} is true"
    return Verdict("inconclusive", message, value, base, extra)
