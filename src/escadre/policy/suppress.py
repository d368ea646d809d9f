"""Why a finding may not count: a waiver, an inline comment, or a baseline file.

* **Waivers** (``x-escadre.policy.waivers``, top level or per service) accept a risk with a reason, for a
  scope, until a date. An expired waiver stops counting and is reported, so an exception cannot outlive
  its review silently.
* **Inline suppression**: ``# escadre:ignore ESC-CNT-001 reason`` on the offending line or the line above
  (Compose files and Dockerfiles alike; ``escadre:ignore=ID1,ID2`` also works). The reason is kept.
* **Baseline**: a JSON file of finding fingerprints (rule + project path + a hash of the evidence — never
  line numbers, so moving code does not break it). A team adopts the gate on an existing application by
  recording today's findings; only new ones block.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from escadre.core.errors import SourceLocation, UsageError
from escadre.policy.model import Finding

_INLINE = re.compile(r"escadre:ignore(?:=|\s+)([A-Za-z0-9_*?-]+(?:\s*,\s*[A-Za-z0-9_*?-]+)*)(.*)$")
BASELINE_VERSION = 1


# ----------------------------------------------------------------------------------------------- waivers


@dataclass(frozen=True, slots=True)
class ActiveWaiver:
    """A waiver as written, with the service it was written under (``None``: the top level)."""

    rule: str
    reason: str
    scope: str | None
    expires: dt.date | None
    service: str | None
    location: SourceLocation | None

    def matches(self, finding: Finding) -> bool:
        if not fnmatch.fnmatchcase(finding.rule_id, self.rule):
            return False
        if self.service is not None and self.service not in finding.services:
            return False
        scope = self.scope
        if scope in (None, "", "*"):
            return True
        if "." in scope and (finding.path == scope or finding.path.startswith(scope + ".")):
            return True
        return any(fnmatch.fnmatchcase(name, scope) for name in finding.services)

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def describe(self) -> str:
        scope = self.scope or self.service or "*"
        until = f" until {self.expires.isoformat()}" if self.expires else ""
        return f"{self.rule} for {scope}{until}: {self.reason}"


def collect_waivers(project: Any) -> list[ActiveWaiver]:
    """Every waiver of the project's ``x-escadre`` (top level and services), with where it is written."""
    out: list[ActiveWaiver] = []
    locations: Mapping[tuple[Any, ...], SourceLocation] = getattr(project, "locations", {}) or {}

    def add(policy: Any, service: str | None, prefix: tuple[Any, ...]) -> None:
        if policy is None:
            return
        for index, waiver in enumerate(policy.waivers):
            out.append(
                ActiveWaiver(
                    rule=waiver.rule,
                    reason=waiver.reason,
                    scope=waiver.scope,
                    expires=waiver.expires,
                    service=service,
                    location=locations.get((*prefix, "x-escadre", "policy", "waivers", index)),
                )
            )

    if project.settings is not None:
        add(project.settings.policy, None, ())
    for name, service in project.services.items():
        if service.settings is not None:
            add(service.settings.policy, name, ("services", name))
    return out


# ------------------------------------------------------------------------------------------------ inline


class SourceLines:
    """Raw lines of the files findings point at, read once each (for inline comments)."""

    def __init__(self, preloaded: Mapping[str, Sequence[str]] | None = None) -> None:
        self._lines: dict[str, Sequence[str]] = dict(preloaded or {})

    def lines(self, file: str) -> Sequence[str]:
        if file not in self._lines:
            try:
                with open(file, encoding="utf-8", errors="replace") as handle:
                    self._lines[file] = handle.read().splitlines()
            except OSError:
                self._lines[file] = ()
        return self._lines[file]

    def line(self, location: SourceLocation | None) -> str | None:
        if location is None or not location.line:
            return None
        lines = self.lines(location.file)
        return lines[location.line - 1] if 0 < location.line <= len(lines) else None

    def suppression(self, finding: Finding) -> str | None:
        """The reason of an ``escadre:ignore`` comment for this finding's rule, if there is one."""
        location = finding.location
        if location is None or not location.line:
            return None
        lines = self.lines(location.file)
        candidates = []
        if 0 < location.line <= len(lines):
            candidates.append(lines[location.line - 1])
        if 1 < location.line <= len(lines) + 1:
            above = lines[location.line - 2]
            if above.lstrip().startswith("#"):
                candidates.append(above)
        for text in candidates:
            match = _INLINE.search(text)
            if match is None:
                continue
            ids = [i.strip() for i in match.group(1).split(",")]
            if any(fnmatch.fnmatchcase(finding.rule_id, i) for i in ids):
                reason = match.group(2).strip(" -:—")
                return reason or "suppressed inline"
        return None


# ---------------------------------------------------------------------------------------------- baseline


def load_baseline(path: str) -> set[str]:
    """The fingerprints recorded in a baseline file."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise UsageError(
            f"baseline file {path} not found", hint="create it with escadre check --write-baseline FILE"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the baseline file {path}: {exc}") from None
    entries = data.get("findings") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise UsageError(f"{path} is not an Escadre baseline (no 'findings' list)")
    return {str(e["fingerprint"]) for e in entries if isinstance(e, dict) and "fingerprint" in e}


def baseline_document(findings: Iterable[Finding]) -> dict[str, Any]:
    entries = sorted(
        {(f.rule_id, f.path, f.fingerprint) for f in findings},
        key=lambda e: (e[0], e[1], e[2]),
    )
    return {
        "version": BASELINE_VERSION,
        "tool": "escadre",
        "note": "Findings accepted when the policy gate was adopted; only new findings block.",
        "findings": [{"rule": r, "path": p, "fingerprint": fp} for r, p, fp in entries],
    }


def write_baseline(path: str, findings: Iterable[Finding]) -> int:
    document = baseline_document(findings)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    return len(document["findings"])
