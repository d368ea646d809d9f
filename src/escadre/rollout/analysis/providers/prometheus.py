"""Prometheus: one instant query per measurement, through the HTTP API (``/api/v1/query``).

The answer is turned into a number (a vector with one sample, or a scalar), a list of numbers (several
series: conditions may index or aggregate them) or *no data* — an empty vector or NaN, which is what a
query over a revision that has served no request yet returns. No data is not zero: ``errors / requests``
with no requests is NaN, and treating it as "0 % errors" is how a broken canary gets promoted.

Failures are worded for the user: an unreachable Prometheus or a 5xx is retried (``consecutive_errors``);
a query Prometheus cannot parse (``bad_data``) or a range-vector answer is a permanent error, reported at
the first measurement instead of after several intervals.
"""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import TYPE_CHECKING, Any

from escadre.rollout.analysis.model import MeasureContext, MeasurementError, Reading
from escadre.rollout.analysis.providers._http import Failure, describe, safe_url, send, snippet

if TYPE_CHECKING:
    from escadre.model.settings import Metric


class Prometheus:
    """The ``prometheus`` provider."""

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading:
        config = metric.provider.prometheus
        if config is None:
            raise MeasurementError(f"metric {metric.name!r} has no prometheus provider", permanent=True)
        query = ctx.render(config.query)
        address = config.address.rstrip("/")
        where = safe_url(address)
        url = f"{address}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
        try:
            answer = send(url, headers=config.headers, timeout=config.timeout)
        except Failure as exc:
            raise MeasurementError(
                f"cannot query Prometheus at {where}: {describe(exc, config.timeout)}",
                hint="check the prometheus address of the metric and that Prometheus runs",
            ) from None
        except ValueError as exc:
            raise MeasurementError(f"invalid Prometheus address {where!r}: {exc}", permanent=True) from None
        try:
            payload = json.loads(answer.body)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise MeasurementError(
                f"Prometheus at {where} answered HTTP {answer.status} without the API's JSON: "
                f"{snippet(answer.body, list(config.headers.values()))!r}",
                hint="is the address that of Prometheus itself (not of a UI or a proxy login page)?",
            )
        if payload.get("status") != "success":
            kind = str(payload.get("errorType") or f"HTTP {answer.status}")
            error = str(payload.get("error") or "no error message")
            raise MeasurementError(
                f"Prometheus at {where} rejected the query {query!r}: {kind}: {error}",
                permanent=kind == "bad_data",
            )
        return _reading(payload.get("data"), query)


def _reading(data: Any, query: str) -> Reading:
    if not isinstance(data, dict):
        raise MeasurementError(f"Prometheus answered the query {query!r} without data")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return Reading(_number(result[1], query), detail=f"query {query!r} returned a scalar")
    if kind == "vector" and isinstance(result, list):
        values = [_number(_sample_value(sample), query) for sample in result]
        if not values:
            return Reading(None, detail=f"query {query!r} returned an empty vector (no matching series)")
        if len(values) == 1:
            if math.isnan(values[0]):
                return Reading(values[0], detail=f"query {query!r} returned NaN (no samples in its range yet)")
            return Reading(values[0], detail=f"query {query!r} returned one series")
        return Reading(values, detail=f"query {query!r} returned {len(values)} series")
    if kind == "matrix":
        raise MeasurementError(
            f"query {query!r} returns a range vector; analysis needs an instant value",
            permanent=True,
            hint="wrap the range in a function: rate(x[1m]), avg_over_time(x[5m]), last_over_time(x[1m])",
        )
    raise MeasurementError(f"query {query!r} returned a {kind} where a number was expected", permanent=True)


def _sample_value(sample: Any) -> Any:
    value = sample.get("value") if isinstance(sample, dict) else None
    return value[1] if isinstance(value, list) and len(value) == 2 else None


def _number(text: Any, query: str) -> float:
    try:
        return float(text)  # Prometheus sends "NaN", "+Inf", "-Inf" as strings too: float() reads them
    except (TypeError, ValueError):
        raise MeasurementError(f"query {query!r} returned a value that is not a number: {text!r}") from None
