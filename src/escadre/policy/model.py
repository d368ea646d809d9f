"""The policy engine's vocabulary: rules, the hits a rule reports, and the findings the engine makes of them.

Everything here is a frozen dataclass: a rule set is built once per process and shared by every check; a
finding is a value that the reports, the baseline file and the deploy gate all read and none changes
(the engine makes a new one with :func:`dataclasses.replace` when a waiver or a suppression applies).

A rule is one plain function plus its metadata. The function receives one *subject* — a service of the
Compose model, a parsed Dockerfile, or the objects a driver rendered — and yields :class:`Hit` values;
the engine turns hits into findings (location, fingerprint, waivers). Rules never see file positions or
waivers, which keeps each of them a few lines long and testable on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from escadre.core.errors import SourceLocation

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "low", "medium", "high", "critical")
DEFAULT_FAIL_ON: Severity = "high"
"""The default threshold of the deploy gate and of ``escadre check`` (see ``docs/policy.md``)."""

RuleKind = Literal["compose", "dockerfile", "kubernetes", "swarm", "ecs"]
"""What a rule reads: the Compose model, a Dockerfile, or what the driver of a target kind renders."""
TARGET_KINDS: tuple[RuleKind, ...] = ("kubernetes", "swarm", "ecs")

Status = Literal["open", "waived", "suppressed", "baselined"]
Key = str | int


def rank(severity: str) -> int:
    """Order of a severity (``info`` 0 … ``critical`` 4); unknown names rank above everything."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return len(SEVERITIES)


def at_least(severity: str, threshold: str) -> bool:
    return rank(severity) >= rank(threshold)


@dataclass(frozen=True, slots=True)
class Refs:
    """The ids a rule matches in other benchmarks and tools (empty where none exists).

    ``cis``: CIS Docker Benchmark v1.6.0 recommendation numbers; ``pss``: Kubernetes Pod Security
    Standards controls as ``level/control``; ``nsa``: NSA/CISA Kubernetes Hardening Guidance v1.2 controls
    as numbered by trivy's ``k8s-nsa`` compliance spec; ``checkov``, ``trivy``, ``hadolint``: check ids.
    """

    cis: tuple[str, ...] = ()
    pss: tuple[str, ...] = ()
    nsa: tuple[str, ...] = ()
    checkov: tuple[str, ...] = ()
    trivy: tuple[str, ...] = ()
    hadolint: tuple[str, ...] = ()

    def items(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        for name in ("cis", "pss", "nsa", "checkov", "trivy", "hadolint"):
            ids: tuple[str, ...] = getattr(self, name)
            if ids:
                yield name, ids


@dataclass(frozen=True, slots=True)
class Hit:
    """What a rule reports. ``path`` is relative to the service for Compose rules (``("privileged",)``)
    and absolute (``("services", "web")``) for rules on rendered objects; ``line`` is used by Dockerfile
    and rendered-object rules; ``evidence`` is stable text that identifies the problem across line moves
    (it feeds the fingerprint, never the message)."""

    message: str
    path: tuple[Key, ...] = ()
    evidence: str = ""
    line: int = 0
    obj: str = ""
    """The rendered object it is about (``Deployment/web``), for rules on rendered objects."""
    severity: Severity | None = None
    """Overrides the rule's severity for this hit (a known token format is worse than a suspicious name)."""
    absolute: bool = False
    """For Compose rules: ``path`` starts at the top of the document (``("secrets", "db", "file")``)."""


CheckFn = Callable[[Any], Iterable[Hit]]


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    severity: Severity
    family: str
    kind: RuleKind
    rationale: str
    remediation: str
    refs: Refs = field(default_factory=Refs)
    packs: frozenset[str] = frozenset({"baseline"})
    """The hand-picked packs that include this rule (``restricted`` and the benchmark packs select by
    themselves, see :mod:`escadre.policy.packs`)."""
    check: CheckFn | None = field(default=None, compare=False, repr=False)

    def run(self, subject: Any) -> Iterable[Hit]:
        return self.check(subject) if self.check is not None else ()


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    message: str
    severity: Severity
    path: str
    """Where in the project, without line numbers: ``services.web.privileged``, ``api/Dockerfile``."""
    location: SourceLocation | None
    services: tuple[str, ...]
    source: RuleKind
    fingerprint: str
    obj: str = ""
    status: Status = "open"
    justification: str = ""
    """Why it does not count: the waiver's or the inline comment's reason, or ``baseline``."""
    blocking: bool = False
    """Open and at or above the threshold that applies to it."""

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def service(self) -> str | None:
        return self.services[0] if self.services else None


class RuleSet:
    """Collects the rules of one module: ``@rules.add(...)`` turns a check function into a :class:`Rule`."""

    def __init__(self, kind: RuleKind, family: str) -> None:
        self.kind: RuleKind = kind
        self.family = family
        self.rules: list[Rule] = []

    def add(
        self,
        id: str,
        title: str,
        severity: Severity,
        *,
        rationale: str,
        remediation: str,
        refs: Refs | None = None,
        packs: Iterable[str] = ("baseline",),
        family: str | None = None,
    ) -> Callable[[CheckFn], CheckFn]:
        def decorate(fn: CheckFn) -> CheckFn:
            self.rules.append(
                Rule(
                    id=id,
                    title=title,
                    severity=severity,
                    family=family or self.family,
                    kind=self.kind,
                    rationale=" ".join(rationale.split()),
                    remediation=" ".join(remediation.split()),
                    refs=refs or Refs(),
                    packs=frozenset(packs),
                    check=fn,
                )
            )
            return fn

        return decorate
