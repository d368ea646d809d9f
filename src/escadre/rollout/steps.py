"""The vocabulary between rollout strategies and the engine: steps going down, outcomes coming back.

A strategy never touches a target. It yields ``Step`` values describing what should happen next and
receives an ``Outcome`` for each, so the same canary logic is tested with no engine and no clock, and
runs identically on Docker, Swarm, Kubernetes and ECS. Roles, not revision ids, name the workloads:
``canary`` is the revision being rolled out, ``stable`` the one serving until promotion.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Literal

Role = Literal["canary", "stable"]


@dataclass(frozen=True, slots=True)
class Scale:
    """Run ``replicas`` instances of a role (create, grow or shrink; 0 removes its instances)."""

    role: Role
    replicas: int


@dataclass(frozen=True, slots=True)
class WaitReady:
    """Wait until ``replicas`` instances of the role are ready (healthy)."""

    role: Role
    replicas: int


@dataclass(frozen=True, slots=True)
class SetWeight:
    """Send ``weight`` percent of the traffic to the canary and the rest to stable."""

    weight: int


@dataclass(frozen=True, slots=True)
class SetPreview:
    """Blue-green: serve (or stop serving) the canary on the preview port."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``duration`` seconds, or until ``escadre promote`` when ``duration`` is None."""

    duration: float | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Analyze:
    """Run the analysis templates to a verdict."""

    templates: tuple[str, ...]
    args: tuple[tuple[str, str], ...] = ()
    name: str = "analysis"


@dataclass(frozen=True, slots=True)
class Promote:
    """The canary becomes the stable revision (traffic 100 % to it)."""


@dataclass(frozen=True, slots=True)
class RetireOld:
    """Remove the previous stable revision after ``delay`` seconds."""

    delay: float


Step = Scale | WaitReady | SetWeight | SetPreview | Pause | Analyze | Promote | RetireOld

OutcomeStatus = Literal["ok", "failed", "inconclusive", "skipped"]


@dataclass(frozen=True, slots=True)
class Outcome:
    status: OutcomeStatus = "ok"
    detail: str = ""
    data: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")


OK = Outcome()

Strategy = Generator[Step, Outcome, None]
"""A strategy: yields steps, is sent each step's outcome, returns when the rollout is promoted.

A strategy that receives a failed outcome stops (returns); the engine then aborts, which is the same
for every strategy: all traffic back to stable, stable back to full size, canary removed.
"""


def describe(step: Step) -> str:
    """A short human description, used in progress lines and the event log."""
    match step:
        case Scale(role, replicas):
            return f"scale {role} to {replicas}"
        case WaitReady(role, replicas):
            return f"wait for {replicas} ready {role}"
        case SetWeight(weight):
            return f"set canary weight {weight}%"
        case SetPreview(enabled):
            return "serve preview" if enabled else "stop preview"
        case Pause(duration, reason):
            what = f"pause {duration:g}s" if duration is not None else "pause until promoted"
            return f"{what} ({reason})" if reason else what
        case Analyze(templates, _, name):
            return f"{name}: {', '.join(templates)}"
        case Promote():
            return "promote canary to stable"
        case RetireOld(delay):
            return f"remove previous revision after {delay:g}s"
    raise AssertionError(step)


def to_json(step: Step) -> dict[str, object]:
    """A JSON-able form for checkpoints and events."""
    data: dict[str, object] = {"kind": type(step).__name__}
    for name in step.__slots__:
        data[name] = getattr(step, name)
    return data
