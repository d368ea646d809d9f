"""``AnalysisRun``: measure several metrics, each on its own schedule, and decide as early as possible.

This is Argo Rollouts' AnalysisRun without a Kubernetes controller: a small scheduler that starts each
metric's measurement when it is due (``initial_delay``, then every ``interval`` from one start to the
next, never two at once for the same metric), tallies the outcomes and stops the whole run the moment
one metric is decided badly:

* a metric *fails* when its failed measurements exceed ``failure_limit``;
* it *errors* when its consecutive errors exceed ``consecutive_errors`` (or at once for a permanent
  error: a query that does not parse). Errors are retried and do not count towards ``count``;
* it is *inconclusive* when inconclusive measurements exceed ``inconclusive_limit``;
* it *succeeds* when ``count`` measurements were taken without crossing a limit.

The run is failed if a metric failed, error if one errored (engines roll back for both), inconclusive if
one is inconclusive (engines pause for a human), successful once every metric succeeded. With a metric
whose ``count`` is ``None`` the run goes on until ``stop()``; a *background* run (the rollout-long
``analysis:``) stopped without a bad metric is successful, any other run stopped early is inconclusive —
never successful, because measurements it did not take cannot vouch for the canary.

Two ways to drive it. In production (no ``sleep`` given) each measurement runs on its own thread so a
slow provider (a probe waiting on timeouts) never delays another metric, and the scheduler sleeps on
an event that completions and ``stop()`` set. Given a ``sleep`` (a fake clock's), measurements run one
after another in the scheduling thread, so tests are deterministic and take no real time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from escadre.core.errors import EscadreError
from escadre.rollout.analysis.judge import Verdict, data, judge
from escadre.rollout.analysis.model import (
    AnalysisResult,
    MeasureContext,
    Measurement,
    MeasurementError,
    MetricSummary,
    Phase,
    Provider,
    Role,
    StartingProvider,
    Target,
)
from escadre.rollout.analysis.providers import default_providers
from escadre.rollout.analysis.templates import metrics_for, validate_metrics

if TYPE_CHECKING:
    from escadre.model.settings import AnalysisRef, AnalysisTemplate, Metric

log = logging.getLogger(__name__)

_BAD: tuple[Phase, ...] = ("failed", "error", "inconclusive")


def _one_line(exc: EscadreError) -> str:
    return str(exc).replace("\n  hint: ", " (hint: ", 1) + (")" if exc.hint else "")


class _MetricState:
    """One metric's schedule and tallies; changed only by the scheduling thread, under the run's lock."""

    def __init__(self, metric: Metric, target: Target) -> None:
        self.metric = metric
        roles: tuple[Role, ...] = ("canary", "stable") if metric.baseline is not None else ("canary",)
        self.contexts = {role: MeasureContext(target, metric.name, role) for role in roles}
        self.next_at = 0.0
        self.busy = False
        self.successful = self.failed = self.inconclusive = self.errors = self.consecutive = 0
        self.phase: Phase = "running"
        self.message = ""

    @property
    def measured(self) -> int:
        return self.successful + self.failed + self.inconclusive

    def record(self, measurement: Measurement, permanent: bool) -> None:
        metric = self.metric
        if measurement.phase == "error":
            self.errors += 1
            self.consecutive += 1
        else:
            self.consecutive = 0
            if measurement.phase == "successful":
                self.successful += 1
            elif measurement.phase == "failed":
                self.failed += 1
            else:
                self.inconclusive += 1
        last = measurement.message
        self.next_at = max(measurement.started_at + metric.interval, measurement.finished_at)
        if self.failed > metric.failure_limit:
            self.phase = "failed"
            self.message = f"{self.failed} failed measurement(s), failure_limit is {metric.failure_limit}; last: {last}"
        elif measurement.phase == "error" and permanent:
            self.phase = "error"
            self.message = last
        elif self.consecutive > metric.consecutive_errors:
            self.phase = "error"
            limit = metric.consecutive_errors
            self.message = f"{self.consecutive} errors in a row, consecutive_errors is {limit}; last: {last}"
        elif self.inconclusive > metric.inconclusive_limit:
            self.phase = "inconclusive"
            limit = metric.inconclusive_limit
            self.message = (
                f"{self.inconclusive} inconclusive measurement(s), inconclusive_limit is {limit}; last: {last}"
            )
        elif metric.count is not None and self.measured >= metric.count:
            self.phase = "successful"
            self.message = f"{self.tally()}; last: {last}"
        else:
            self.message = last

    def tally(self) -> str:
        parts = [f"{self.successful} successful"]
        parts += [f"{n} {word}" for n, word in ((self.failed, "failed"), (self.inconclusive, "inconclusive")) if n]
        if self.errors:
            parts.append(f"{self.errors} error(s)")
        return f"{self.measured} measurement(s): " + ", ".join(parts)

    def summary(self) -> MetricSummary:
        return MetricSummary(
            self.metric.name,
            self.phase,
            self.successful,
            self.failed,
            self.inconclusive,
            self.errors,
            self.consecutive,
            self.message,
        )


class AnalysisRun:
    """Measures ``metrics`` against ``target`` until every bounded metric is done, one is decided badly,
    or ``stop()`` is called.

    ``run()`` blocks; ``start()`` runs the same loop on a daemon thread and ``result()``, ``wait()`` and
    ``stop()`` follow it. A run runs once. The constructor checks the metrics (conditions, placeholders,
    unique names) and raises ``SpecError`` listing every problem.

    ``clock`` and ``sleep`` go together: inject both (``testing.FakeClock``) for deterministic tests, in
    which measurements run one after another in the scheduling thread. ``on_measurement`` is called in
    the scheduling thread after each measurement, in order; an exception it raises is logged and ignored.
    ``providers`` maps provider kinds (``prometheus``, ``http``, ``webhook``, ``health``) to providers
    (default: the built-in ones).
    """

    def __init__(
        self,
        name: str,
        metrics: Sequence[Metric],
        target: Target,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        on_measurement: Callable[[Measurement], None] | None = None,
        providers: Mapping[str, Provider] | None = None,
        background: bool = False,
    ) -> None:
        validate_metrics(metrics, args=target.args, analysis=name)
        self.name = name
        self.target = target
        self.background = background
        self._providers = dict(providers) if providers is not None else default_providers()
        missing = sorted({m.provider.kind for m in metrics} - set(self._providers))
        if missing:
            raise ValueError(f"no provider given for {', '.join(missing)}")
        self._clock = clock
        self._sleep = sleep
        self._on_measurement = on_measurement
        self._states = [_MetricState(metric, target) for metric in metrics]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._completed: queue.SimpleQueue[tuple[_MetricState, Measurement, bool]] = queue.SimpleQueue()
        self._measurements: list[Measurement] = []
        self._final: AnalysisResult | None = None
        self._started = False
        self._thread: threading.Thread | None = None

    @classmethod
    def for_ref(
        cls,
        name: str,
        ref: AnalysisRef,
        templates: Mapping[str, AnalysisTemplate],
        target: Target,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        on_measurement: Callable[[Measurement], None] | None = None,
        providers: Mapping[str, Provider] | None = None,
        background: bool = False,
    ) -> AnalysisRun:
        """The run an ``AnalysisRef`` asks for: its templates' metrics (``metrics_for``), its ``args``
        added to the target's. Raises ``SpecError`` for an unknown template or a bad metric."""
        return cls(
            name,
            metrics_for(ref, templates),
            replace(target, args={**target.args, **ref.args}),
            clock=clock,
            sleep=sleep,
            on_measurement=on_measurement,
            providers=providers,
            background=background,
        )

    # ------------------------------------------------------------------------------------- public API

    def run(self) -> AnalysisResult:
        """Measure until the run is decided (or stopped from another thread); return the result."""
        self._claim()
        return self._loop()

    def start(self) -> None:
        """Run in a background thread; follow it with ``result()``, ``wait()``, ``stop()``."""
        self._claim()
        self._thread = threading.Thread(target=self._background, name=f"analysis-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> AnalysisResult:
        """Stop measuring (measurements in flight are dropped) and return the result; waits up to
        ``timeout`` seconds for a ``start()``-ed thread to end."""
        self._stop.set()
        self._wake.set()
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> AnalysisResult:
        """Wait up to ``timeout`` seconds for a ``start()``-ed run to end; return its result so far."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        return self.result()

    def result(self) -> AnalysisResult:
        """The result so far (``running`` until decided or stopped); safe from any thread."""
        with self._lock:
            if self._final is not None:
                return self._final
            phase, message = self._verdict()
            return AnalysisResult(phase, message, tuple(self._measurements), self._summaries())

    # ------------------------------------------------------------------------------------- scheduling

    def _claim(self) -> None:
        with self._lock:
            if self._started:
                raise RuntimeError(f"analysis {self.name!r} was already started; an AnalysisRun runs once")
            self._started = True

    def _background(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug must not leave the engine waiting on a run that never ends
            log.error("analysis %s crashed", self.name, exc_info=True)
            with self._lock:
                message = f"the analysis stopped on an internal error: {type(exc).__name__}: {exc}"
                self._final = AnalysisResult("error", message, tuple(self._measurements), self._summaries())

    def _loop(self) -> AnalysisResult:
        self._begin(self._clock())
        while not self._stop.is_set():
            self._wake.clear()
            self._drain()
            if self._decided():
                break
            for state in self._due(self._clock()):
                if self._stop.is_set():
                    break
                if self._sleep is not None:
                    self._record(state, *self._take(state))
                    if self._decided():
                        break
                else:
                    self._dispatch(state)
            if self._decided() or self._stop.is_set():
                break
            delay = self._delay()
            if self._sleep is None:
                self._wake.wait(delay)
            elif delay is not None and delay > 0:
                self._sleep(delay)
        return self._finish()

    def _begin(self, now: float) -> None:
        for state in self._states:
            state.next_at = now + state.metric.initial_delay
            provider = self._providers[state.metric.provider.kind]
            if not isinstance(provider, StartingProvider):
                continue
            for ctx in state.contexts.values():
                if ctx.revision is None:
                    continue
                try:
                    provider.begin(state.metric, ctx)
                except Exception:  # the first measurement will meet (and report) the same problem
                    log.debug("analysis %s: %s: begin failed", self.name, state.metric.name, exc_info=True)

    def _due(self, now: float) -> list[_MetricState]:
        due = [s for s in self._states if s.phase == "running" and not s.busy and s.next_at <= now]
        return sorted(due, key=lambda s: s.next_at)

    def _delay(self) -> float | None:
        """Seconds until the next metric is due; ``None`` when every running metric is in flight."""
        waiting = [s.next_at for s in self._states if s.phase == "running" and not s.busy]
        return min(waiting) - self._clock() if waiting else None

    def _dispatch(self, state: _MetricState) -> None:
        state.busy = True

        def work() -> None:
            self._completed.put((state, *self._take(state)))
            self._wake.set()

        threading.Thread(target=work, name=f"analysis-{self.name}-{state.metric.name}", daemon=True).start()

    def _drain(self) -> None:
        while True:
            try:
                state, measurement, permanent = self._completed.get_nowait()
            except queue.Empty:
                return
            self._record(state, measurement, permanent)

    def _take(self, state: _MetricState) -> tuple[Measurement, bool]:
        """One measurement of ``state``'s metric; never raises. Returns it and whether an error in it
        is permanent."""
        metric = state.metric
        started = self._clock()
        permanent = False
        try:
            verdict = self._measure(state)
        except MeasurementError as exc:
            verdict, permanent = Verdict("error", _one_line(exc)), exc.permanent
        except EscadreError as exc:  # e.g. a TargetError from the engine's status callable
            verdict = Verdict("error", _one_line(exc))
        except Exception as exc:
            log.warning("analysis %s: metric %s: unexpected error", self.name, metric.name, exc_info=True)
            verdict = Verdict("error", f"unexpected {type(exc).__name__}: {exc}")
        measurement = Measurement(
            metric=metric.name,
            phase=verdict.phase,
            value=verdict.value,
            baseline=verdict.baseline,
            message=verdict.message,
            started_at=started,
            finished_at=self._clock(),
            extra=verdict.extra,
        )
        return measurement, permanent

    def _measure(self, state: _MetricState) -> Verdict:
        metric = state.metric
        provider = self._providers[metric.provider.kind]
        canary = provider.measure(metric, state.contexts["canary"])
        if metric.baseline is None or canary.verdict is not None or data(canary.value) is None:
            return judge(metric, canary)
        if self.target.stable_revision is None:
            raise MeasurementError(
                f"metric {metric.name!r} compares the canary with the stable revision, and there is none",
                permanent=True,
            )
        return judge(metric, canary, provider.measure(metric, state.contexts["stable"]))

    def _record(self, state: _MetricState, measurement: Measurement, permanent: bool) -> None:
        with self._lock:
            self._measurements.append(measurement)
            state.record(measurement, permanent)
            state.busy = False
        if self._on_measurement is not None:
            try:
                self._on_measurement(measurement)
            except Exception:
                log.warning("analysis %s: on_measurement callback failed", self.name, exc_info=True)

    # --------------------------------------------------------------------------------------- verdicts

    def _decided(self) -> bool:
        with self._lock:
            return self._verdict()[0] != "running"

    def _verdict(self) -> tuple[Phase, str]:
        for phase in _BAD:
            hits = [s for s in self._states if s.phase == phase]
            if hits:
                return phase, "; ".join(f"metric {s.metric.name!r} {phase}: {s.message}" for s in hits)
        if all(s.phase == "successful" for s in self._states):
            return "successful", "; ".join(f"metric {s.metric.name!r}: {s.tally()}" for s in self._states)
        running = [s.metric.name for s in self._states if s.phase == "running"]
        return "running", f"measuring {', '.join(map(repr, running))}"

    def _summaries(self) -> tuple[MetricSummary, ...]:
        return tuple(s.summary() for s in self._states)

    def _finish(self) -> AnalysisResult:
        with self._lock:
            phase, message = self._verdict()
            if phase == "running":
                taken = sum(s.measured for s in self._states)
                if self.background:
                    phase, message = "successful", f"stopped after {taken} measurement(s) without a failing metric"
                else:
                    message = f"stopped before the analysis ended, after {taken} measurement(s): not enough to pass"
                    phase = "inconclusive"
            self._final = AnalysisResult(phase, message, tuple(self._measurements), self._summaries())
            return self._final
