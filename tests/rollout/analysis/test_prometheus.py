"""The Prometheus provider against a real Prometheus (see conftest.py) and against fake servers for the
answers a healthy Prometheus never gives (5xx, a login page)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from escadre.model.settings import Metric
from escadre.rollout.analysis import AnalysisRun, MeasureContext, Measurement, MeasurementError
from escadre.rollout.analysis.providers import Prometheus as PrometheusProvider
from tests.rollout.analysis.conftest import Prometheus
from tests.rollout.analysis.helpers import Answer, free_port, loopback, metric, target

ERROR_RATE = (
    'sum(app_requests_total{revision="{{revision}}",code="500"}) / sum(app_requests_total{revision="{{revision}}"})'
)


def prom(query: str, address: str, **fields: Any) -> Metric:
    fields.setdefault("count", 1)
    fields.setdefault("interval", 0)
    return metric("prom", provider={"prometheus": {"query": query, "address": address, "timeout": 2}}, **fields)


def analyse(*metrics: Metric, **target_fields: Any) -> Any:
    return AnalysisRun("prom", list(metrics), target(**target_fields)).run()


@pytest.mark.slow
def test_successful_and_failed(prometheus: Prometheus) -> None:
    stable = analyse(prom(ERROR_RATE, prometheus.url, success_condition="result < 0.05"), canary_revision="v1")
    assert stable.phase == "successful"
    assert stable.measurements[0].value == pytest.approx(0.01)
    canary = analyse(prom(ERROR_RATE, prometheus.url, success_condition="result < 0.05"))
    assert canary.phase == "failed"
    assert canary.measurements[0].value == pytest.approx(0.1)
    assert "result=0.1: success_condition 'result < 0.05' is false" in canary.message


@pytest.mark.slow
def test_no_data_is_inconclusive(prometheus: Prometheus) -> None:
    result = analyse(prom(ERROR_RATE, prometheus.url, success_condition="result < 0.05"), canary_revision="v9")
    assert result.phase == "inconclusive"
    assert not result.failed
    assert "returned an empty vector" in result.message
    nan = analyse(prom("app_broken_ratio", prometheus.url, success_condition="result < 0.05"))
    assert nan.phase == "inconclusive"
    assert "no data" in nan.measurements[0].message


@pytest.mark.slow
def test_several_series_and_scalars(prometheus: Prometheus) -> None:
    m = prom(
        'app_requests_total{revision="v2"}',
        prometheus.url,
        success_condition="len(result) == 2 and sum(result) == 1000",
    )
    assert analyse(m).phase == "successful"
    scalar = prom('scalar(app_latency_seconds{revision="v1"})', prometheus.url, success_condition="result == 0.2")
    assert analyse(scalar).phase == "successful"


@pytest.mark.slow
def test_baseline_between_two_revisions(prometheus: Prometheus) -> None:
    query = 'app_latency_seconds{revision="{{revision}}"}'
    worse = analyse(prom(query, prometheus.url, baseline={"max_ratio": 1.1}))
    assert worse.phase == "failed"
    measurement = worse.measurements[0]
    assert (measurement.value, measurement.baseline) == (0.25, 0.2)
    assert "ratio=1.25" in measurement.message
    close = analyse(
        prom(query, prometheus.url, baseline={"max_ratio": 1.1, "max_increase": 0.02}), canary_revision="v3"
    )
    assert close.phase == "successful"


@pytest.mark.slow
def test_bad_query_is_a_permanent_error(prometheus: Prometheus) -> None:
    result = analyse(prom("sum(app_requests_total", prometheus.url, success_condition="result > 0", count=5))
    assert result.phase == "error"
    assert len(result.measurements) == 1
    assert "rejected the query 'sum(app_requests_total': bad_data:" in result.message
    assert "parse error" in result.message
    matrix = analyse(prom("app_knob[1m]", prometheus.url, success_condition="result > 0"))
    assert matrix.phase == "error"
    assert "range vector" in matrix.message and "rate(x[1m])" in matrix.message


@pytest.mark.slow
def test_the_analysis_follows_the_values(prometheus: Prometheus) -> None:
    """The exporter's value changes between measurements; the run fails once Prometheus scraped it."""
    prometheus.exporter.set("app_knob", 1.0)
    prometheus.wait_for("app_knob", lambda r: r and r[0]["value"][1] == "1")
    changed: list[Measurement] = []

    def on_measurement(measurement: Measurement) -> None:
        if not changed:
            prometheus.exporter.set("app_knob", 5.0)
        changed.append(measurement)

    m = prom("app_knob", prometheus.url, success_condition="result < 2", count=40, interval=0.2)
    started = time.monotonic()
    result = AnalysisRun("knob", [m], target(), on_measurement=on_measurement).run()
    assert result.phase == "failed"
    assert result.measurements[0].value == 1.0 and result.measurements[-1].value == 5.0
    assert time.monotonic() - started < 5


def test_unreachable_prometheus_is_an_error() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    result = analyse(prom("up", address, success_condition="result > 0", consecutive_errors=1, count=3))
    assert result.phase == "error"
    assert len(result.measurements) == 2
    assert f"cannot query Prometheus at {address}: connection refused (hint: check the prometheus" in result.message
    assert "\n" not in result.measurements[0].message


def test_server_errors_are_retried_and_worded() -> None:
    down = Answer(503, {"status": "error", "errorType": "unavailable", "error": "too many queries"})
    with loopback(lambda seen, n: down) as server, pytest.raises(MeasurementError) as info:
        PrometheusProvider().measure(prom("up", server.url), MeasureContext(target(), "prom", "canary"))
    assert not info.value.permanent
    assert str(info.value) == f"Prometheus at {server.url} rejected the query 'up': unavailable: too many queries"
    login = Answer(200, "<html>please log in</html>", content_type="text/html")
    with (
        loopback(lambda seen, n: login) as server,
        pytest.raises(MeasurementError, match="without the API's JSON: '<html>please log in</html>'"),
    ):
        PrometheusProvider().measure(prom("up", server.url), MeasureContext(target(), "prom", "canary"))


def test_query_is_rendered_and_headers_sent() -> None:
    empty = Answer(200, {"status": "success", "data": {"resultType": "vector", "result": []}})
    with loopback(lambda seen, n: empty) as server:
        m = metric(
            "p",
            provider={
                "prometheus": {"query": ERROR_RATE, "address": server.url + "/", "headers": {"X-Scope-OrgID": "team-a"}}
            },
        )
        reading = PrometheusProvider().measure(m, MeasureContext(target(), "p", "stable"))
    assert reading.value is None
    (seen,) = server.requests
    assert seen.path.startswith("/api/v1/query?query=sum%28app_requests_total%7Brevision%3D%22v1%22")
    assert seen.headers["x-scope-orgid"] == "team-a"
