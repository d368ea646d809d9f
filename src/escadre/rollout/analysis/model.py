"""The values analysis passes around: what is measured, what a provider reads, what a run concludes.

They are frozen dataclasses (internal values, see STYLE.md) so a measurement handed to an
``on_measurement`` callback or kept in a result can never change under the engine's feet.

The provider seam is one method, ``Provider.measure(metric, ctx) -> Reading``, so the scheduler is tested
with scripted providers and a fake clock, and the real providers (Prometheus, HTTP probe, webhook, health)
are small modules tested against real services. A provider reports three kinds of outcome, and they
mean different things to a rollout:

* a ``Reading`` with a value: data to judge with the metric's conditions;
* a ``Reading`` with ``value=None`` (*no data*): the metric cannot say anything yet; this becomes an
  *inconclusive* measurement, which pauses a rollout for a human and never aborts nor promotes it;
* a ``MeasurementError``: the provider failed (unreachable, timed out, rejected the query). Errors are
  retried until ``consecutive_errors`` is exceeded, unless ``permanent`` (a query Prometheus cannot
  parse will not parse better in ten seconds), which ends the metric in the *error* phase at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from escadre.core.errors import EscadreError
from escadre.rollout.analysis import templating

if TYPE_CHECKING:
    from escadre.drivers.base import RevisionStatus
    from escadre.model.settings import Metric

Role = Literal["canary", "stable"]
"""``canary``: the revision being rolled out (blue-green's *green* too); ``stable``: the one it replaces."""

MeasurementPhase = Literal["successful", "failed", "inconclusive", "error"]
Phase = Literal["running", "successful", "failed", "inconclusive", "error"]
"""Phase of a metric or of a whole run. ``error`` means "could not measure"; engines treat it as failed."""


def _no_addresses(role: Role) -> Sequence[str]:
    return ()


def _no_status(role: Role) -> RevisionStatus | None:
    return None


@dataclass(frozen=True)
class Target:
    """What is being measured, and how providers reach it.

    ``addresses(role)`` returns the ``host:port`` of every instance of that role, reachable from the
    process running the analysis (the HTTP probe sends requests there). ``status(role)`` returns the
    role's current ``RevisionStatus`` (the health provider reads restarts and health from it). Both are
    called at every measurement, so they may return fresh values as instances come and go.
    """

    app: str
    service: str
    canary_revision: str
    stable_revision: str | None = None
    addresses: Callable[[Role], Sequence[str]] = _no_addresses
    status: Callable[[Role], RevisionStatus | None] = _no_status
    args: Mapping[str, str] = field(default_factory=dict)

    def revision(self, role: Role) -> str | None:
        return self.canary_revision if role == "canary" else self.stable_revision


@dataclass(frozen=True)
class Reading:
    """What a provider read for one role.

    ``value`` is a number, a list of numbers (several series) or ``None`` for *no data*; NaN and empty
    lists are treated as no data too. ``variables`` are extra names conditions may use (the HTTP probe's
    ``p99``...). ``verdict`` short-circuits the conditions when the provider judged by itself (a webhook
    answering ``{"pass": false}``). ``detail`` says in words what was read, for messages.
    """

    value: Any
    variables: Mapping[str, Any] = field(default_factory=dict)
    verdict: Literal["successful", "failed", "inconclusive"] | None = None
    detail: str = ""


@dataclass(frozen=True)
class Measurement:
    """One measurement of one metric; timestamps are values of the run's ``clock``."""

    metric: str
    phase: MeasurementPhase
    value: Any
    baseline: Any
    message: str
    started_at: float
    finished_at: float
    extra: Mapping[str, Any] = field(default_factory=dict)
    """The provider's extra variables (``p50``, ``p99``, ``error_rate``... for the HTTP probe)."""

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe copy for events and the state store (NaN and infinities become strings)."""
        return {
            "metric": self.metric,
            "phase": self.phase,
            "value": _json_safe(self.value),
            "baseline": _json_safe(self.baseline),
            "message": self.message,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "extra": {k: _json_safe(v) for k, v in self.extra.items()},
        }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class MetricSummary:
    """Where one metric stands: its phase and how many measurements of each kind it took."""

    name: str
    phase: Phase
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    message: str = ""

    @property
    def measured(self) -> int:
        """Measurements that count towards ``count`` (errors do not: they are retried)."""
        return self.successful + self.failed + self.inconclusive


@dataclass(frozen=True)
class AnalysisResult:
    """The state of a run. ``phase`` is ``running`` until the run is decided or stopped.

    ``failed`` or ``error``: roll back. ``inconclusive``: pause for a human (``escadre promote`` or
    ``abort``) — missing data never aborts nor promotes. ``successful``: go on.
    """

    phase: Phase
    message: str
    measurements: tuple[Measurement, ...] = ()
    metrics: tuple[MetricSummary, ...] = ()

    @property
    def done(self) -> bool:
        return self.phase != "running"

    @property
    def failed(self) -> bool:
        """True for ``failed`` and ``error``: both mean the rollout must not go on."""
        return self.phase in ("failed", "error")


class MeasurementError(EscadreError):
    """A provider could not take a measurement. The message ends up in the measurement, never raised
    to the user. ``permanent`` errors (a malformed query, an unknown placeholder) fail the metric at
    once instead of being retried ``consecutive_errors`` times."""

    def __init__(self, message: str, *, permanent: bool = False, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent


@dataclass(frozen=True)
class MeasureContext:
    """Everything a provider needs for one metric and one role.

    ``memo`` lives as long as the run, one per metric and role: a provider keeps there what it must
    remember between measurements (the health provider keeps the restart counts it started from).
    """

    target: Target
    metric: str
    role: Role
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def revision(self) -> str | None:
        return self.target.revision(self.role)

    def render(self, text: str) -> str:
        """Fill ``{{app}}``, ``{{revision}}``, ``{{args.NAME}}``... in a provider string."""
        try:
            return templating.render(text, templating.values_for(self.target, self.role))
        except templating.TemplateError as exc:
            raise MeasurementError(str(exc), permanent=True) from None


@runtime_checkable
class Provider(Protocol):
    """Takes one reading of ``metric`` for ``ctx.role``; raises ``MeasurementError`` when it cannot."""

    def measure(self, metric: Metric, ctx: MeasureContext) -> Reading: ...


@runtime_checkable
class StartingProvider(Protocol):
    """A provider that wants to look at the target when the run starts (before any initial delay)."""

    def begin(self, metric: Metric, ctx: MeasureContext) -> None: ...
