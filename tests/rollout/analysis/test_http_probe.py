"""The built-in HTTP probe against real loopback servers: success rate, latency, unreachable instances."""

from __future__ import annotations

import time

import pytest

from escadre.model.settings import Metric
from escadre.rollout.analysis import AnalysisRun, MeasureContext, MeasurementError, Role
from escadre.rollout.analysis.providers import HttpProbe
from escadre.rollout.analysis.providers.http_probe import percentile, with_port
from tests.rollout.analysis.helpers import Answer, Seen, free_port, loopback, metric, target


def probe_metric(condition: str = "result >= 0.95 and p99 < 0.5", **http: object) -> Metric:
    return metric("probe", provider={"http": http}, count=1, success_condition=condition)


def ctx_for(addresses: list[str], role: Role = "canary", **fields: object) -> MeasureContext:
    return MeasureContext(target(addresses=lambda r: addresses if r == role else [], **fields), "probe", role)


def test_success_rate_and_latency() -> None:
    def flaky(seen: Seen, n: int) -> Answer:
        return Answer(500 if n % 4 == 0 else 200, b"ok", delay=0.05)

    with loopback(flaky) as server:
        m = metric("probe", provider={"http": {"path": "/health", "requests": 40}})
        reading = HttpProbe().measure(m, ctx_for([server.address]))
    assert reading.value == 0.75
    assert reading.variables["error_rate"] == 0.25
    assert reading.variables["requests"] == 40
    assert 0.05 <= reading.variables["p50"] <= reading.variables["p90"] <= reading.variables["p99"] < 0.5
    assert {s.path for s in server.requests} == {"/health"}
    assert "30/40 GET /health succeeded" in reading.detail and "10× HTTP 500" in reading.detail


def test_spread_over_instances_percentiles_see_the_slow_one() -> None:
    with (
        loopback(lambda seen, n: Answer(200, delay=0.01)) as fast,
        loopback(lambda seen, n: Answer(200, delay=0.15)) as slow,
    ):
        run = AnalysisRun(
            "p",
            [probe_metric("result >= 0.95 and p99 < 0.1", requests=20, path="/{{revision}}")],
            target(addresses=lambda role: [fast.address, slow.address]),
        )
        started = time.monotonic()
        result = run.run()
    assert len(fast.requests) == len(slow.requests) == 10
    assert fast.requests[0].path == "/v2"
    measurement = result.measurements[0]
    assert measurement.value == 1.0
    assert measurement.extra["p50"] < 0.15 <= measurement.extra["p90"]
    assert result.phase == "failed"
    assert "success_condition 'result >= 0.95 and p99 < 0.1' is false" in result.message
    assert time.monotonic() - started < 3


def test_port_override_and_post() -> None:
    with loopback(lambda seen, n: Answer(204)) as server:
        m = metric("probe", provider={"http": {"port": server.port, "method": "POST", "requests": 3}})
        reading = HttpProbe().measure(m, ctx_for(["127.0.0.1:1"]))
    assert reading.value == 1.0
    assert [s.method for s in server.requests] == ["POST"] * 3


def test_refused_connections_count_as_failures() -> None:
    with loopback(lambda seen, n: Answer(200)) as server:
        m = metric("probe", provider={"http": {"requests": 10}})
        reading = HttpProbe().measure(m, ctx_for([server.address, f"127.0.0.1:{free_port()}"]))
    assert reading.value == 0.5
    assert "5× connection refused" in reading.detail


def test_timeouts_count_as_failures_at_their_elapsed_time() -> None:
    def sometimes_slow(seen: Seen, n: int) -> Answer:
        return Answer(200, delay=1.0 if n % 2 else 0.0)

    with loopback(sometimes_slow) as server:
        m = metric("probe", provider={"http": {"requests": 8, "timeout": 0.2}})
        reading = HttpProbe().measure(m, ctx_for([server.address]))
    assert reading.value == 0.5
    assert reading.variables["p99"] >= 0.2
    assert "timed out after 0.2s" in reading.detail


def test_no_answer_at_all_is_an_error_not_a_verdict() -> None:
    port = free_port()
    with pytest.raises(MeasurementError) as info:
        HttpProbe().measure(metric("probe", provider={"http": {"requests": 4}}), ctx_for([f"127.0.0.1:{port}"]))
    assert not info.value.permanent
    assert f"none of the 4 probe requests to the canary revision (127.0.0.1:{port}) got an answer" in str(info.value)
    assert "connection refused" in str(info.value)


def test_no_address_is_no_data() -> None:
    reading = HttpProbe().measure(metric("probe", provider={"http": {}}), ctx_for([], role="stable"))
    assert reading.value is None
    assert reading.detail == "no stable instance to probe (no address)"


def test_redirects_are_seen_not_followed() -> None:
    with loopback(lambda seen, n: Answer(302, b"")) as server:
        m = metric("probe", provider={"http": {"requests": 2, "success_status": [200]}})
        reading = HttpProbe().measure(m, ctx_for([server.address]))
    assert reading.value == 0.0
    assert "2× HTTP 302" in reading.detail


def test_helpers() -> None:
    assert with_port("10.0.0.5:8000", 9090) == "10.0.0.5:9090"
    assert with_port("10.0.0.5", 9090) == "10.0.0.5:9090"
    assert with_port("[::1]:8000", 81) == "[::1]:81"
    assert with_port("::1", 81) == "[::1]:81"
    assert with_port("h:1", None) == "h:1"
    values = sorted(float(i) for i in range(1, 101))
    assert (percentile(values, 50), percentile(values, 90), percentile(values, 99)) == (50.0, 90.0, 99.0)
    assert percentile([0.2], 99) == 0.2
