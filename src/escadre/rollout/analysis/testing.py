"""Test doubles shipped with the package: a fake clock and a scripted provider.

The rollout engine's tests need analysis that passes, fails or pauses on cue, at no real time cost;
so do this package's own tests. ``FakeClock`` provides the ``clock``/``sleep`` pair an ``AnalysisRun``
accepts (sleeping advances the clock at once), and ``ScriptedProvider`` plays back readings::

    clock = FakeClock()
    provider = ScriptedProvider([0.01, 0.02, None, MeasurementError("down")], clock=clock, duration=1.0)
    run = AnalysisRun("a", metrics, target, clock=clock, sleep=clock.sleep, providers={"prometheus": provider})
    result = run.run()              # instant; clock.now tells how long it would have taken
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from escadre.rollout.analysis.model import MeasureContext, Reading, Role

if TYPE_CHECKING:
    from escadre.model.settings import Metric

Item: TypeAlias = "float | int | list[float] | Reading | BaseException | None"
"""A number or list (a reading), ``None`` (no data), a ``Reading``, or an exception to raise."""


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it and records the request."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


class ScriptedProvider:
    """Plays back ``script`` — a sequence (the last item repeats once exhausted) or a function of
    ``(metric name, role, index)`` where ``index`` counts that metric and role's calls from 0.

    Each call is recorded in ``calls`` as ``(time, metric, role)``; with ``clock`` and ``duration`` a
    call advances the fake clock, as a slow provider would take time.
    """

    def __init__(
        self,
        script: Sequence[Item] | Callable[[str, Role, int], Item],
        *,
        clock: FakeClock | None = None,
        duration: float = 0.0,
    ) -> None:
        self.script = script
        self.clock = clock
        self.duration = duration
        self.calls: list[tuple[float, str, Role]] = []
        self._counts: dict[tuple[str, Role], int] = {}
        self._lock = threading.Lock()

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading:
        with self._lock:
            index = self._counts.get((metric.name, ctx.role), 0)
            self._counts[(metric.name, ctx.role)] = index + 1
            self.calls.append((self.clock() if self.clock else 0.0, metric.name, ctx.role))
        if self.clock is not None and self.duration:
            self.clock.advance(self.duration)
        item = self._item(metric.name, ctx.role, index)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, Reading):
            return item
        return Reading(item, detail="scripted")

    def _item(self, metric: str, role: Role, index: int) -> Any:
        if callable(self.script):
            return self.script(metric, role, index)
        if not self.script:
            return None
        return self.script[min(index, len(self.script) - 1)]
