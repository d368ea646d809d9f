"""The result of a check: every finding with its status, the target's support issues, and the exit code.

One value serves the CLI (text, JSON, SARIF, JUnit), the deploy gate and the API. Findings that a waiver,
an inline comment or the baseline covers stay in the report with their status and reason, so a reviewer
sees what was accepted and why; only *open* findings at or above the threshold block.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from escadre.core.errors import SourceLocation
from escadre.policy.model import SEVERITIES, Finding, Rule, Severity, rank
from escadre.policy.suppress import ActiveWaiver


@dataclass(frozen=True, slots=True)
class SupportIssue:
    """A Compose key the target does not fully honour (``drivers.support``), located in the file."""

    path: str
    key: str
    level: str
    """``approximated``, ``ignored`` or ``rejected``."""
    note: str
    location: SourceLocation | None = None

    def is_error(self, strict: bool) -> bool:
        """Rejected keys always fail (``up`` would refuse them); with ``--strict`` every issue does."""
        return strict or self.level == "rejected"


@dataclass(frozen=True, slots=True)
class CheckReport:
    project: str
    packs: tuple[str, ...]
    fail_on: Severity
    """The project-wide threshold (a service's ``x-escadre.policy.fail_on`` may differ for its findings)."""
    findings: tuple[Finding, ...] = ()
    rules: tuple[Rule, ...] = ()
    """The rules that ran (for SARIF's rule list and JUnit's test cases)."""
    target_kind: str | None = None
    support: tuple[SupportIssue, ...] = ()
    strict: bool = False
    expired_waivers: tuple[ActiveWaiver, ...] = ()
    notes: tuple[str, ...] = ()
    duration: float = 0.0
    files: tuple[str, ...] = field(default=())

    @property
    def open(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "open"]

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]

    @property
    def warnings(self) -> list[Finding]:
        """Open findings below the threshold: shown, not blocking."""
        return [f for f in self.findings if f.status == "open" and not f.blocking]

    def with_status(self, status: str) -> list[Finding]:
        return [f for f in self.findings if f.status == status]

    @property
    def support_errors(self) -> list[SupportIssue]:
        return [s for s in self.support if s.is_error(self.strict)]

    @property
    def exit_code(self) -> int:
        """0: nothing blocks; 1: an open finding at or above the threshold, or a support error."""
        return 1 if self.blocking or self.support_errors else 0

    def counts(self) -> dict[str, int]:
        """Open findings by severity, most severe first."""
        found = Counter(f.severity for f in self.open)
        return {s: found[s] for s in reversed(SEVERITIES) if found[s]}

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{n} {s}" for s, n in counts.items()]
        total = sum(counts.values())
        text = f"{total} finding{'s' if total != 1 else ''}" + (f" ({', '.join(parts)})" if parts else "")
        text += f", {len(self.blocking)} blocking at ≥ {self.fail_on}"
        extra = [
            f"{len(self.with_status(s))} {s}" for s in ("waived", "suppressed", "baselined") if self.with_status(s)
        ]
        if extra:
            text += "; " + ", ".join(extra)
        if self.support:
            text += f"; {len(self.support)} Compose key(s) not fully honoured by {self.target_kind}"
        return text


def sort_key(finding: Finding) -> tuple[int, str, str, int]:
    location = finding.location
    return (
        -rank(finding.severity),
        finding.rule_id,
        location.file if location else "",
        location.line if location else 0,
    )
