"""A :class:`~escadre.policy.report.CheckReport` as text, JSON, SARIF 2.1.0 or JUnit XML.

* **text** — for people: findings grouped by service (or Dockerfile), most severe first, coloured in a
  terminal, then what was waived, suppressed or baselined and why, then the target's support report.
* **json** — the same facts for scripts; stable keys, one object per finding.
* **sarif** — for code-scanning UIs (GitHub, GitLab, Azure DevOps): rules with help text and
  ``security-severity``, results with physical locations relative to ``%SRCROOT%``, fingerprints, and
  waivers as SARIF suppressions. Validated against the official 2.1.0 schema in the tests.
* **junit** — for CI dashboards: one test case per rule that ran, failing when it has blocking findings.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from escadre import __version__
from escadre.policy.model import Finding, Rule
from escadre.policy.report import CheckReport, SupportIssue

_COLOURS = {"critical": "1;31", "high": "31", "medium": "33", "low": "36", "info": "2"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SUPPORT_RULE = "ESC-TARGET-SUPPORT"


def _paint(enabled: bool) -> Callable[[str, str], str]:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if enabled and code else text

    return paint


def _group(finding: Finding) -> str:
    if finding.source == "dockerfile":
        users = ", ".join(finding.services)
        return f"{finding.path}" + (f" (built for {users})" if users else "")
    if finding.services:
        return f"service {finding.services[0]}"
    return finding.path.split("#")[0]


# ------------------------------------------------------------------------------------------------- text


def text(report: CheckReport, *, color: bool = False) -> str:
    paint = _paint(color)
    lines: list[str] = []
    target = f" on {report.target_kind}" if report.target_kind else ""
    lines.append(
        paint(f"escadre check: {report.project}{target}", "1")
        + f" — packs {', '.join(report.packs)}; blocking at ≥ {report.fail_on}; {len(report.rules)} rules"
    )
    groups: dict[str, list[Finding]] = {}
    for finding in report.open:
        groups.setdefault(_group(finding), []).append(finding)
    explained: set[str] = set()
    for name in sorted(groups):
        lines.append("")
        lines.append(paint(name, "1"))
        for finding in groups[name]:
            sev = paint(f"{finding.severity.upper():<8}", _COLOURS.get(finding.severity, ""))
            mark = paint(" BLOCKING", "1;31") if finding.blocking else ""
            where = f"  {finding.location}" if finding.location else ""
            lines.append(f"  {sev} {finding.rule_id} {finding.message}{mark}{where}")
            if finding.rule_id not in explained:  # the fix once per rule, where it first appears
                explained.add(finding.rule_id)
                lines.append(paint(f"           {finding.rule.title} — fix: {finding.rule.remediation}", "2"))
    for status, title in (("waived", "Waived"), ("suppressed", "Suppressed inline"), ("baselined", "Baselined")):
        chosen = report.with_status(status)
        if chosen:
            lines.append("")
            lines.append(paint(f"{title} ({len(chosen)})", "1"))
            for finding in chosen:
                where = f" {finding.location}" if finding.location else ""
                lines.append(f"  {finding.rule_id} {finding.path}{where} — {finding.justification}")
    if report.expired_waivers:
        lines.append("")
        lines.append(paint(f"Expired waivers ({len(report.expired_waivers)}) — no longer applied", "1;33"))
        for waiver in report.expired_waivers:
            where = f" ({waiver.location})" if waiver.location else ""
            lines.append(f"  {waiver.describe()}{where}")
    if report.support:
        lines.append("")
        lines.append(paint(f"Compose keys {report.target_kind} does not fully honour ({len(report.support)})", "1"))
        for issue in report.support:
            level = paint(issue.level, "31" if issue.is_error(report.strict) else "33")
            where = f"  {issue.location}" if issue.location else ""
            lines.append(f"  {level:<12} {issue.path}: {issue.note}{where}")
    for note in report.notes:
        lines.append(paint(f"note: {note}", "2"))
    lines.append("")
    verdict = paint("FAILED", "1;31") if report.exit_code else paint("passed", "1;32")
    lines.append(f"{verdict}: {report.summary()}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------- json


def _location(finding: Finding | SupportIssue) -> dict[str, Any]:
    location = finding.location
    if location is None:
        return {"file": None, "line": None, "column": None}
    return {"file": location.file, "line": location.line or None, "column": location.column or None}


def finding_dict(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule_id,
        "title": finding.rule.title,
        "severity": finding.severity,
        "message": finding.message,
        **_location(finding),
        "path": finding.path,
        "services": list(finding.services),
        "source": finding.source,
        "object": finding.obj or None,
        "status": finding.status,
        "justification": finding.justification or None,
        "blocking": finding.blocking,
        "fingerprint": finding.fingerprint,
        "remediation": finding.rule.remediation,
        "refs": {name: list(ids) for name, ids in finding.rule.refs.items()},
    }


def as_json(report: CheckReport) -> str:
    document = {
        "version": 1,
        "tool": {"name": "escadre", "version": __version__},
        "project": report.project,
        "target": report.target_kind,
        "packs": list(report.packs),
        "fail_on": report.fail_on,
        "exit_code": report.exit_code,
        "summary": {
            "open": report.counts(),
            "blocking": len(report.blocking),
            "waived": len(report.with_status("waived")),
            "suppressed": len(report.with_status("suppressed")),
            "baselined": len(report.with_status("baselined")),
            "rules": len(report.rules),
            "seconds": round(report.duration, 4),
        },
        "findings": [finding_dict(f) for f in report.findings],
        "expired_waivers": [
            {
                "rule": w.rule,
                "scope": w.scope or w.service,
                "expires": w.expires.isoformat() if w.expires else None,
                "reason": w.reason,
                "location": str(w.location) if w.location else None,
            }
            for w in report.expired_waivers
        ],
        "support": [
            {
                "path": s.path,
                "key": s.key,
                "level": s.level,
                "note": s.note,
                "error": s.is_error(report.strict),
                **_location(s),
            }
            for s in report.support
        ],
        "notes": list(report.notes),
    }
    return json.dumps(document, indent=2) + "\n"


# ------------------------------------------------------------------------------------------------ sarif


def _uri(file: str) -> tuple[str, str | None]:
    """An artifact URI: relative to %SRCROOT% (the working directory) when possible."""
    if os.path.isabs(file):
        return Path(file).as_uri(), None
    return quote(file.replace(os.sep, "/")), "%SRCROOT%"


def _sarif_rule(rule: Rule) -> dict[str, Any]:
    tags = ["security", rule.family, *(f"{name}:{i}" for name, ids in rule.refs.items() for i in ids)]
    help_text = f"{rule.remediation}\n\nWhy: {rule.rationale}"
    refs = "".join(f"\n- {name}: {', '.join(ids)}" for name, ids in rule.refs.items())
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.title.replace("`", "").replace("-", " ").split() if w.isalnum()),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {"text": help_text, "markdown": f"**Fix:** {rule.remediation}\n\n**Why:** {rule.rationale}{refs}"},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {
            "tags": tags,
            "precision": "high",
            "problem.severity": "error" if SARIF_LEVEL[rule.severity] == "error" else "warning",
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "escadre-severity": rule.severity,
        },
    }


def _physical(location: Any) -> dict[str, Any] | None:
    if location is None or not location.file:
        return None
    uri, base = _uri(location.file)
    artifact: dict[str, Any] = {"uri": uri}
    if base:
        artifact["uriBaseId"] = base
    physical: dict[str, Any] = {"artifactLocation": artifact}
    if location.line:
        region: dict[str, Any] = {"startLine": location.line}
        if location.column:
            region["startColumn"] = location.column
        physical["region"] = region
    return {"physicalLocation": physical}


def sarif(report: CheckReport) -> str:
    rules = {r.id: r for r in report.rules}
    for finding in report.findings:
        rules.setdefault(finding.rule_id, finding.rule)
    ordered = sorted(rules.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(ordered)}
    descriptors = [_sarif_rule(r) for r in ordered]
    results: list[dict[str, Any]] = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.rule_id,
            "ruleIndex": index[finding.rule_id],
            "level": SARIF_LEVEL[finding.severity],
            "message": {"text": finding.message},
            "partialFingerprints": {"escadreFingerprint/v1": finding.fingerprint},
            "properties": {
                "severity": finding.severity,
                "path": finding.path,
                "services": list(finding.services),
                "blocking": finding.blocking,
            },
        }
        physical = _physical(finding.location)
        if physical is not None:
            result["locations"] = [physical]
        if finding.status != "open":
            kind = "inSource" if finding.status == "suppressed" else "external"
            result["suppressions"] = [{"kind": kind, "status": "accepted", "justification": finding.justification}]
        results.append(result)
    if report.support:
        index[SUPPORT_RULE] = len(descriptors)
        descriptors.append(
            {
                "id": SUPPORT_RULE,
                "name": "ComposeKeyNotHonoured",
                "shortDescription": {"text": f"Compose key not fully honoured by {report.target_kind}"},
                "fullDescription": {"text": "The target approximates, ignores or rejects this Compose key."},
                "defaultConfiguration": {"level": "warning"},
            }
        )
        for issue in report.support:
            result = {
                "ruleId": SUPPORT_RULE,
                "ruleIndex": index[SUPPORT_RULE],
                "level": "error" if issue.is_error(report.strict) else "warning",
                "message": {"text": f"{issue.path}: {issue.level} on {report.target_kind} ({issue.note})"},
            }
            physical = _physical(issue.location)
            if physical is not None:
                result["locations"] = [physical]
            results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "escadre",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path(os.getcwd()).as_uri() + "/"}},
                "invocations": [{"executionSuccessful": True, "exitCode": report.exit_code}],
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


# ------------------------------------------------------------------------------------------------ junit


def junit(report: CheckReport) -> str:
    root = ET.Element("testsuites", name="escadre check")
    suite = ET.SubElement(root, "testsuite", name=f"policy {report.project}")
    by_rule: dict[str, list[Finding]] = {}
    for finding in report.findings:
        by_rule.setdefault(finding.rule_id, []).append(finding)
    rules = {r.id: r for r in report.rules}
    for finding in report.findings:
        rules.setdefault(finding.rule_id, finding.rule)
    failures = 0
    for rule in sorted(rules.values(), key=lambda r: r.id):
        case = ET.SubElement(
            suite, "testcase", classname=f"escadre.policy.{rule.family}", name=f"{rule.id} {rule.title}"
        )
        found = by_rule.get(rule.id, [])
        blocking = [f for f in found if f.blocking]
        if blocking:
            failures += 1
            failure = ET.SubElement(
                case,
                "failure",
                type=rule.severity,
                message=f"{len(blocking)} blocking finding(s): {blocking[0].message}",
            )
            failure.text = (
                "\n".join(f"{f.location or f.path}: {f.message}" for f in blocking) + f"\nfix: {rule.remediation}"
            )
        others = [f for f in found if not f.blocking]
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"{f.status if f.status != 'open' else 'warning'}: {f.location or f.path}: {f.message}"
                + (f" ({f.justification})" if f.justification else "")
                for f in others
            )
    suite.set("tests", str(len(rules)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", f"{report.duration:.3f}")
    total_tests, total_failures = len(rules), failures
    if report.support:
        support = ET.SubElement(root, "testsuite", name=f"support {report.target_kind}")
        errors = 0
        for issue in report.support:
            case = ET.SubElement(
                support, "testcase", classname=f"escadre.support.{report.target_kind}", name=issue.path
            )
            if issue.is_error(report.strict):
                errors += 1
                ET.SubElement(case, "failure", type=issue.level, message=issue.note).text = str(
                    issue.location or issue.path
                )
            else:
                ET.SubElement(case, "system-out").text = f"{issue.level}: {issue.note}"
        support.set("tests", str(len(report.support)))
        support.set("failures", str(errors))
        support.set("errors", "0")
        support.set("skipped", "0")
        total_tests += len(report.support)
        total_failures += errors
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("time", f"{report.duration:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render(report: CheckReport, fmt: str, *, color: bool = False) -> str:
    if fmt == "text":
        return text(report, color=color)
    if fmt == "json":
        return as_json(report)
    if fmt == "sarif":
        return sarif(report)
    if fmt == "junit":
        return junit(report)
    raise ValueError(f"unknown report format {fmt!r}")
