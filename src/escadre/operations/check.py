"""``escadre check`` and the deploy gate: the policy engine plus what a target does with each Compose key.

``check`` runs the policy rules on the project (Compose model, Dockerfiles, and — for a target kind
that has a renderer — the objects its driver renders), and adds the target's support report (keys it
approximates, ignores or rejects) in its own section. ``gate`` is what ``up`` calls before anything is
deployed: the same rules on the model and the Dockerfiles (nothing rendered, no SDK imported), raising
:class:`~escadre.core.errors.OperationFailed` when an open finding reaches the threshold — ``high`` by
default, ``x-escadre.policy.fail_on`` to change it — unless the caller allows it, in which case the
violation is recorded in the event log with who allowed it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from escadre.core.errors import EscadreError, OperationFailed
from escadre.core.progress import ProgressEvent
from escadre.model.project import Project
from escadre.policy import CheckReport, SupportIssue, evaluate, locate
from escadre.policy import render as render_policy
from escadre.policy.model import Severity, rank
from escadre.policy.suppress import write_baseline as _write_baseline

if TYPE_CHECKING:
    from escadre.operations.context import Context
    from escadre.policy.model import Finding

log = logging.getLogger("escadre.operations.check")

Format = Literal["text", "json", "sarif", "junit"]
GATE_EVENT = "policy.violations-allowed"


def _support(project: Project, kind: str) -> list[SupportIssue]:
    from escadre.drivers.registry import SUPPORT, support_table
    from escadre.drivers.support import report

    if kind not in SUPPORT:
        return []
    out = []
    for finding in report(project, support_table(kind)):
        path = tuple(finding.path.split("."))
        out.append(SupportIssue(finding.path, finding.key, finding.level, finding.note, locate(project, path)))
    return out


def _render_target(project: Project, kind: str) -> tuple[str | None, str | None]:
    """What the ``kind`` driver renders, or why it could not (the check goes on without target rules)."""
    from escadre.drivers.registry import RENDERERS, render

    if kind not in RENDERERS:
        return None, None
    try:
        return render(kind, project, {}), None
    except EscadreError as exc:
        return None, f"the {kind} rules did not run: the project cannot be rendered ({exc.message})"
    except ImportError as exc:  # a driver still being written, or an optional extra missing
        return None, f"the {kind} rules did not run: the {kind} renderer is not available ({exc})"


def check(
    ctx: Context | None,
    project: Project,
    *,
    target_kind: str | None = None,
    packs: Sequence[str] = (),
    fail_on: str | None = None,
    baseline: str | None = None,
    strict: bool = False,
    rendered: str | None = None,
    rendered_file: str | None = None,
) -> CheckReport:
    """Check ``project`` (see the module docstring). ``rendered`` replaces what the target's driver would
    render (``escadre check --manifests FILE``: manifests produced elsewhere, or hand-written)."""
    del ctx  # the check needs no store and no driver (None is fine); the parameter keeps the operations' shape
    notes: list[str] = []
    if target_kind is not None and rendered is None:
        rendered, note = _render_target(project, target_kind)
        if note:
            notes.append(note)
    report = evaluate(
        project,
        packs=packs,
        fail_on=_severity(fail_on),
        target_kind=target_kind,
        rendered=rendered,
        rendered_file=rendered_file,
        baseline=baseline,
    )
    support = _support(project, target_kind) if target_kind is not None else []
    return replace(report, support=tuple(support), strict=strict, notes=(*report.notes, *notes))


def _severity(value: str | None) -> Severity | None:
    from escadre.core.errors import UsageError
    from escadre.policy.model import SEVERITIES

    if value is None:
        return None
    if value not in SEVERITIES:
        raise UsageError(f"unknown severity {value!r}", hint=f"use one of {', '.join(SEVERITIES)}")
    return value


def render_report(report: CheckReport, fmt: Format, *, color: bool) -> str:
    return render_policy(report, fmt, color=color)


def write_baseline(report: CheckReport, path: str) -> int:
    """Record every open finding of ``report`` in a baseline file; returns how many were recorded."""
    return _write_baseline(path, report.open + report.with_status("baselined"))


def _describe(finding: Finding) -> str:
    where = str(finding.location) if finding.location else finding.path
    return f"{finding.rule_id} {where}: {finding.message}"


def gate(ctx: Context, project: Project, *, target: str, target_kind: str, allow: bool) -> CheckReport:
    """Refuse to deploy when an open finding reaches the threshold (``x-escadre.policy.fail_on``, default
    ``high``). Findings below it are emitted as warning progress events. With ``allow`` the deploy goes on
    and a ``policy.violations-allowed`` event (level warning, with the actor and the findings) is recorded.
    Returns the report (the caller may print it)."""
    report = evaluate(project)
    if report.warnings:
        # one line, not one per finding: every up would otherwise repeat the same list (escadre check has it)
        counts: dict[str, int] = {}
        for finding in report.warnings:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        summary = ", ".join(f"{n} {severity}" for severity, n in sorted(counts.items(), key=lambda kv: -rank(kv[0])))
        ctx.progress.emit(
            ProgressEvent(
                "policy",
                f"{len(report.warnings)} finding(s) below the gate",
                "warning",
                detail=f"{summary}; escadre check lists them",
            )
        )
    blocking = report.blocking
    if not blocking:
        return report
    listing = "; ".join(_describe(f) for f in blocking[:10])
    more = f" (and {len(blocking) - 10} more)" if len(blocking) > 10 else ""
    if not allow:
        raise OperationFailed(
            f"policy: {len(blocking)} finding(s) at or above {report.fail_on} block the deploy to {target}: "
            f"{listing}{more}",
            hint="fix them, waive them in x-escadre.policy.waivers (with a reason and an expiry), "
            "or deploy with --allow-policy-violations (recorded in the event log); escadre check explains each",
        )
    ctx.store.add_event(
        GATE_EVENT,
        f"{ctx.actor} deployed to {target} despite {len(blocking)} blocking policy finding(s)",
        project=project.name,
        target=target,
        actor=ctx.actor,
        level="warning",
        data={
            "target_kind": target_kind,
            "fail_on": report.fail_on,
            "findings": [
                {
                    "rule": f.rule_id,
                    "severity": f.severity,
                    "path": f.path,
                    "location": str(f.location) if f.location else None,
                    "message": f.message,
                    "fingerprint": f.fingerprint,
                }
                for f in blocking
            ],
        },
    )
    log.warning("policy violations allowed by %s: %s", ctx.actor, listing)
    return report


__all__ = ["GATE_EVENT", "CheckReport", "check", "gate", "render_report", "write_baseline"]
