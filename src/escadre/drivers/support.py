"""What each target does with each Compose key: honoured, approximated (with what), or not supported.

Every driver publishes a table keyed by Compose path (``services.*.cpu_shares``, ``services.*.deploy.placement``,
``secrets.*.external``…). ``report`` walks a project's normalized spec and lists every key in use that the
target does not fully honour, so nothing is ever dropped silently: ``up`` warns (and ``--strict`` refuses),
``escadre check --target`` prints the report, and ``docs/compose-support.md`` is generated from the tables
(a test keeps it in sync).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from escadre.model.project import Project

Level = Literal["honoured", "approximated", "ignored", "rejected"]


@dataclass(frozen=True, slots=True)
class KeySupport:
    level: Level
    note: str = ""


def honoured(note: str = "") -> KeySupport:
    return KeySupport("honoured", note)


def approximated(note: str) -> KeySupport:
    return KeySupport("approximated", note)


def ignored(note: str) -> KeySupport:
    return KeySupport("ignored", note)


def rejected(note: str) -> KeySupport:
    return KeySupport("rejected", note)


@dataclass(frozen=True, slots=True)
class SupportFinding:
    path: str
    """Where in the project: ``services.web.deploy.placement``."""
    key: str
    """The table key it matched: ``services.*.deploy.placement``."""
    level: Level
    note: str


def _walk(prefix: str, pattern: str, value: Any, depth: int) -> Iterator[tuple[str, str]]:
    yield prefix, pattern
    if depth == 0 or not isinstance(value, Mapping):
        return
    for key, child in value.items():
        yield from _walk(f"{prefix}.{key}", f"{pattern}.{key}", child, depth - 1)


def used_keys(project: Project) -> Iterator[tuple[str, str]]:
    """(concrete path, table key) for every key the project's normalized spec sets."""
    spec = project.spec
    for section in ("networks", "volumes", "secrets", "configs"):
        for name, item in (spec.get(section) or {}).items():
            for key in item or {}:
                yield f"{section}.{name}.{key}", f"{section}.*.{key}"
    for name, svc in (spec.get("services") or {}).items():
        for key, value in svc.items():
            depth = 2 if key in ("deploy", "build", "healthcheck") else 0
            yield from _walk(f"services.{name}.{key}", f"services.*.{key}", value, depth)


def report(project: Project, table: Mapping[str, KeySupport]) -> list[SupportFinding]:
    """Every key in use that ``table`` does not mark honoured (unknown keys count as not supported)."""
    findings: list[SupportFinding] = []
    for path, key in used_keys(project):
        support = table.get(key)
        if support is None:
            # a sub-key of a section the table covers as a whole (``services.*.deploy.resources.limits``)
            parent = key.rsplit(".", 1)[0]
            while parent.count(".") >= 2 and parent not in table:
                parent = parent.rsplit(".", 1)[0]
            if parent in table and parent.count(".") >= 2:
                continue
            if key.startswith("services.*.x-") or ".x-" in key:
                continue
            support = ignored("not known to this target")
        if support.level != "honoured":
            findings.append(SupportFinding(path, key, support.level, support.note))
    return findings


_SYMBOL = {"honoured": "✅", "approximated": "≈", "ignored": "⚠️", "rejected": "❌"}


def markdown(targets: Mapping[str, Mapping[str, KeySupport]], keys: list[str]) -> str:
    """The support matrix as a Markdown table: one row per Compose key, one column per target."""
    names = list(targets)
    lines = [
        "| Compose key | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key in keys:
        cells = []
        for name in names:
            support = _lookup(targets[name], key)
            text = _SYMBOL[support.level]
            if support.note:
                text += f" {support.note}"
            cells.append(text.replace("|", "\\|"))
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _lookup(table: Mapping[str, KeySupport], key: str) -> KeySupport:
    probe = key
    while probe not in table and probe.count(".") > 2:
        probe = probe.rsplit(".", 1)[0]
    return table.get(probe) or KeySupport("ignored", "not known to this target")
