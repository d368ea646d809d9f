"""The scheduler and the phase rules, on a fake clock with scripted providers: no real waiting."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import pytest

from escadre.core.errors import SpecError
from escadre.model.settings import Metric
from escadre.rollout.analysis import AnalysisRun, Measurement, MeasurementError, Reading, Target
from escadre.rollout.analysis.testing import FakeClock, ScriptedProvider
from tests.rollout.analysis.helpers import metric, target

OK, BAD = 0.01, 0.5  # with the default condition below: result < 0.1


def m(name: str = "m", **fields: Any) -> Metric:
    fields.setdefault("success_condition", "result < 0.1")
    fields.setdefault("count", 3)
    return metric(name, **fields)


def run_with(
    metrics: list[Metric],
    provider: ScriptedProvider,
    clock: FakeClock,
    *,
    tgt: Target | None = None,
    **options: Any,
) -> AnalysisRun:
    return AnalysisRun(
        "test",
        metrics,
        tgt or target(),
        clock=clock,
        sleep=clock.sleep,
        providers={"prometheus": provider, "http": provider, "webhook": provider, "health": provider},
        **options,
    )


def times(provider: ScriptedProvider, name: str = "m") -> list[float]:
    return [t for t, metric_name, role in provider.calls if metric_name == name and role == "canary"]


# ------------------------------------------------------------------------------------------- schedule


def test_count_initial_delay_and_interval() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([OK], clock=clock)
    result = run_with([m(count=3, interval=10, initial_delay=5)], provider, clock).run()
    assert result.phase == "successful"
    assert times(provider) == [5, 15, 25]
    assert clock.sleeps == [5, 10, 10]
    assert [x.phase for x in result.measurements] == ["successful"] * 3
    assert result.metrics[0].successful == 3
    assert "3 measurement(s): 3 successful" in result.message


def test_interval_counts_from_start_to_start_and_never_overlaps() -> None:
    clock = FakeClock()
    slow = ScriptedProvider([OK], clock=clock, duration=3)
    run_with([m(count=3, interval=10)], slow, clock).run()
    assert times(slow) == [0, 10, 20]
    clock = FakeClock()
    slower = ScriptedProvider([OK], clock=clock, duration=12)
    result = run_with([m(count=3, interval=10)], slower, clock).run()
    assert times(slower) == [0, 12, 24]
    first = result.measurements[0]
    assert (first.started_at, first.finished_at) == (0, 12)


def test_metrics_run_on_their_own_schedules() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([OK], clock=clock)
    fast, slow = m("fast", interval=10, count=3), m("slow", interval=15, count=2, initial_delay=1)
    result = run_with([fast, slow], provider, clock).run()
    assert result.phase == "successful"
    assert times(provider, "fast") == [0, 10, 20]
    assert times(provider, "slow") == [1, 16]
    assert [x.metric for x in result.measurements] == ["fast", "slow", "fast", "slow", "fast"]


# ------------------------------------------------------------------------------------------ the limits


def test_first_failure_fails_by_default() -> None:
    clock = FakeClock()
    result = run_with([m(count=5)], ScriptedProvider([OK, BAD, OK]), clock).run()
    assert result.phase == "failed"
    assert result.failed
    assert len(result.measurements) == 2
    assert "failure_limit is 0" in result.message
    assert "success_condition 'result < 0.1' is false" in result.message


def test_failure_limit() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([BAD, OK, BAD, OK, OK], clock=clock)
    result = run_with([m(count=5, failure_limit=1)], provider, clock).run()
    assert result.phase == "failed"
    assert len(result.measurements) == 3
    clock = FakeClock()
    result = run_with([m(count=5, failure_limit=2)], ScriptedProvider([BAD, OK, BAD, OK, OK]), clock).run()
    assert result.phase == "successful"
    assert result.metrics[0].failed == 2


def test_consecutive_errors_and_errors_do_not_count_towards_count() -> None:
    down = MeasurementError("Prometheus down")
    clock = FakeClock()
    provider = ScriptedProvider([down, OK, down, OK], clock=clock)
    result = run_with([m(count=2, consecutive_errors=1)], provider, clock).run()
    assert result.phase == "successful"
    assert (result.metrics[0].measured, result.metrics[0].errors) == (2, 2)
    assert len(result.measurements) == 4

    clock = FakeClock()
    provider = ScriptedProvider([down, down, OK, down, down, down, OK], clock=clock)
    result = run_with([m(count=10, consecutive_errors=2)], provider, clock).run()
    assert result.phase == "error"
    assert result.failed
    assert len(result.measurements) == 6
    assert "3 errors in a row, consecutive_errors is 2; last: Prometheus down" in result.message


def test_permanent_error_ends_the_metric_at_once() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([MeasurementError("bad_data: parse error", permanent=True)], clock=clock)
    result = run_with([m(count=5)], provider, clock).run()
    assert result.phase == "error"
    assert len(result.measurements) == 1
    assert "parse error" in result.message


def test_no_data_is_inconclusive_never_a_verdict() -> None:
    for no_data in (None, math.nan, [], [math.nan]):
        clock = FakeClock()
        result = run_with([m(count=3)], ScriptedProvider([no_data]), clock).run()
        assert result.phase == "inconclusive", no_data
        assert not result.failed
        assert result.measurements[0].phase == "inconclusive"
        assert "no data" in result.measurements[0].message


def test_inconclusive_limit() -> None:
    clock = FakeClock()
    result = run_with([m(count=4, inconclusive_limit=1)], ScriptedProvider([None, OK, None, OK]), clock).run()
    assert result.phase == "inconclusive"
    assert len(result.measurements) == 3
    assert "inconclusive_limit is 1" in result.message
    clock = FakeClock()
    result = run_with([m(count=3, inconclusive_limit=1)], ScriptedProvider([None, OK, OK]), clock).run()
    assert result.phase == "successful"


def test_condition_that_cannot_be_evaluated_is_an_error() -> None:
    clock = FakeClock()
    run = run_with([m(success_condition="result[0] < 1", consecutive_errors=0)], ScriptedProvider([OK]), clock)
    result = run.run()
    assert result.phase == "error"
    assert result.measurements[0].phase == "error"
    assert "cannot be evaluated" in result.measurements[0].message


def test_unexpected_provider_exception_is_an_error_measurement() -> None:
    clock = FakeClock()
    result = run_with([m(consecutive_errors=0)], ScriptedProvider([RuntimeError("boom")]), clock).run()
    assert result.phase == "error"
    assert result.measurements[0].message == "unexpected RuntimeError: boom"


def test_target_errors_from_the_engine_are_error_measurements() -> None:
    from escadre.core.errors import TargetUnreachableError

    clock = FakeClock()
    provider = ScriptedProvider([TargetUnreachableError("engine gone", target="local")])
    result = run_with([m(consecutive_errors=0)], provider, clock).run()
    assert result.phase == "error"
    assert result.measurements[0].message == "target 'local': engine gone"


def test_provider_verdict_skips_conditions() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([Reading(None, verdict="failed", detail="the load test failed")])
    result = run_with([m()], provider, clock).run()
    assert result.phase == "failed"
    assert "the load test failed" in result.message


# --------------------------------------------------------------------------------- several metrics


def test_one_failing_metric_fails_the_run_and_stops_the_others() -> None:
    clock = FakeClock()

    def script(name: str, role: str, n: int) -> float:
        return BAD if name == "bad" and n == 1 else OK

    provider = ScriptedProvider(script, clock=clock)
    result = run_with([m("good", count=10, interval=5), m("bad", count=10, interval=10)], provider, clock).run()
    assert result.phase == "failed"
    assert clock.now == 10
    assert max(t for t, _, _ in provider.calls) == 10
    phases = {s.name: s.phase for s in result.metrics}
    assert phases == {"good": "running", "bad": "failed"}
    assert result.message.startswith("metric 'bad' failed:")


def test_inconclusive_metric_makes_the_run_inconclusive() -> None:
    clock = FakeClock()

    def script(name: str, role: str, n: int) -> float | None:
        return None if name == "quiet" else OK

    result = run_with([m("busy", count=3), m("quiet", count=3, initial_delay=4)], ScriptedProvider(script), clock).run()
    assert result.phase == "inconclusive"
    assert not result.failed
    assert {s.name: s.phase for s in result.metrics}["quiet"] == "inconclusive"


# ----------------------------------------------------------------------------------------- baseline


def test_baseline_ratio_shorthand() -> None:
    clock = FakeClock()
    values = {"canary": 0.3, "stable": 0.2}
    provider = ScriptedProvider(lambda name, role, n: values[role], clock=clock)
    result = run_with([metric("lat", count=1, baseline={"max_ratio": 1.2})], provider, clock).run()
    assert result.phase == "failed"
    measurement = result.measurements[0]
    assert (measurement.value, measurement.baseline) == (0.3, 0.2)
    assert "ratio=1.5" in measurement.message
    assert [role for _, _, role in provider.calls] == ["canary", "stable"]
    values["canary"] = 0.22
    result = run_with([metric("lat", count=1, baseline={"max_ratio": 1.2})], provider, FakeClock()).run()
    assert result.phase == "successful"


def test_baseline_needs_a_stable_revision() -> None:
    clock = FakeClock()
    tgt = target(stable_revision=None)
    result = run_with([metric("lat", count=3, baseline={"max_ratio": 1.2})], ScriptedProvider([1.0]), clock, tgt=tgt)
    outcome = result.run()
    assert outcome.phase == "error"
    assert "there is none" in outcome.message


# ------------------------------------------------------------------------------------- unbounded/stop


def test_background_run_stopped_is_successful() -> None:
    clock = FakeClock()
    seen: list[Measurement] = []
    run: AnalysisRun

    def on_measurement(measurement: Measurement) -> None:
        seen.append(measurement)
        if len(seen) == 5:
            run.stop()

    run = run_with(
        [m(count=None, interval=30)], ScriptedProvider([OK]), clock, on_measurement=on_measurement, background=True
    )
    result = run.run()
    assert result.phase == "successful"
    assert len(result.measurements) == 5
    assert clock.now == 120
    assert "stopped after 5 measurement(s)" in result.message


def test_foreground_run_stopped_early_is_inconclusive_never_successful() -> None:
    clock = FakeClock()
    run: AnalysisRun

    def on_measurement(measurement: Measurement) -> None:
        run.stop()

    run = run_with([m(count=10)], ScriptedProvider([OK]), clock, on_measurement=on_measurement)
    result = run.run()
    assert result.phase == "inconclusive"
    assert "stopped before the analysis ended" in result.message


def test_background_run_reports_a_failure_the_moment_it_happens() -> None:
    clock = FakeClock()
    provider = ScriptedProvider([OK] * 7 + [BAD], clock=clock)
    result = run_with([m(count=None, interval=10)], provider, clock, background=True).run()
    assert result.phase == "failed"
    assert clock.now == 70


def test_background_thread_start_result_stop() -> None:
    """The real-time mode: measurements on threads, result() while running, stop() ends the thread."""
    provider = ScriptedProvider([OK])
    run = AnalysisRun(
        "bg", [m(count=None, interval=0.01)], target(), providers={"prometheus": provider}, background=True
    )
    run.start()
    deadline = time.monotonic() + 5
    while len(run.result().measurements) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.result().phase == "running"
    assert not run.result().done
    result = run.stop(timeout=5)
    assert result.phase == "successful"
    assert len(result.measurements) >= 3
    assert not [t for t in threading.enumerate() if t.name == "analysis-bg"]
    assert run.stop() is result


def test_real_time_metrics_are_measured_concurrently() -> None:
    class Slow:
        def measure(self, metric: Metric, ctx: Any) -> Reading:
            time.sleep(0.3)
            return Reading(OK)

    metrics = [m(name, count=1) for name in ("a", "b", "c")]
    run = AnalysisRun("c", metrics, target(), providers={"prometheus": Slow()})
    started = time.monotonic()
    result = run.run()
    assert result.phase == "successful"
    assert time.monotonic() - started < 0.8


def test_wait_on_a_started_run() -> None:
    run = AnalysisRun("w", [m(count=2, interval=0.01)], target(), providers={"prometheus": ScriptedProvider([OK])})
    run.start()
    result = run.wait(timeout=5)
    assert result.phase == "successful"
    assert len(result.measurements) == 2


# --------------------------------------------------------------------------------------------- misc


def test_a_run_runs_once() -> None:
    clock = FakeClock()
    run = run_with([m(count=1)], ScriptedProvider([OK]), clock)
    run.run()
    with pytest.raises(RuntimeError, match="runs once"):
        run.run()


def test_callback_errors_do_not_stop_the_analysis(caplog: pytest.LogCaptureFixture) -> None:
    def broken(measurement: Measurement) -> None:
        raise ValueError("disk full")

    clock = FakeClock()
    result = run_with([m(count=2)], ScriptedProvider([OK]), clock, on_measurement=broken).run()
    assert result.phase == "successful"
    assert "on_measurement callback failed" in caplog.text


def test_bad_settings_are_refused_before_measuring() -> None:
    with pytest.raises(SpecError) as info:
        AnalysisRun(
            "canary-step",
            [m("a", success_condition="result <"), m("b", success_condition="p99 < 1"), m("a")],
            target(),
            providers={"prometheus": ScriptedProvider([OK])},
        )
    text = str(info.value)
    assert "analysis 'canary-step': 3 problems" in text
    assert "metric 'a': success_condition: invalid condition 'result <'" in text
    assert "metric 'b': success_condition: invalid condition 'p99 < 1': unknown name 'p99'" in text
    assert "two metrics are named 'a'" in text


def test_missing_provider_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no provider given for prometheus"):
        AnalysisRun("x", [m()], target(), providers={})


def test_measurement_as_dict_is_json_safe() -> None:
    import json

    measurement = Measurement("m", "failed", math.inf, 0.0, "ratio=inf", 1.0, 2.0, {"p99": math.nan})
    data = measurement.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False))["value"] == "+Inf"
    assert data["extra"] == {"p99": "NaN"}


def test_a_crash_in_a_background_run_ends_it_in_error(caplog: pytest.LogCaptureFixture) -> None:
    def broken_sleep(seconds: float) -> None:
        raise RuntimeError("clock broke")

    clock = FakeClock()
    run = AnalysisRun(
        "crash",
        [m(count=3, interval=10)],
        target(),
        clock=clock,
        sleep=broken_sleep,
        providers={"prometheus": ScriptedProvider([OK])},
    )
    run.start()
    result = run.wait(timeout=5)
    assert result.phase == "error"
    assert result.failed
    assert "internal error: RuntimeError: clock broke" in result.message
    assert len(result.measurements) == 1
