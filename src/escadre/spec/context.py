"""What normalization and the semantic checks share: project facts, positions, and error helpers.

Normalization functions get a :class:`Norm` and the *path* of the value they work on; every error they
raise goes through :meth:`Norm.error`, which turns the path into ``file:line:column`` using the merged
position tree. Conversions from :mod:`escadre.spec.coerce` raise ``ValueError``; :meth:`Norm.convert`
wraps them so a bad value anywhere becomes a located :class:`SpecError`, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.locator import LocNode, Path, format_path

T = TypeVar("T")


@dataclass
class Norm:
    project: str
    project_dir: str
    variables: Mapping[str, str]
    """Interpolation variables (``.env`` under the real environment): used for bare ``KEY`` entries."""
    loc: LocNode
    warnings: list[str] = field(default_factory=list)
    top: dict[str, Any] = field(default_factory=dict)
    """The raw merged document (for cross-references such as named volumes)."""

    def at(self, path: Path) -> SourceLocation:
        return self.loc.nearest(path).at

    def value_at(self, path: Path) -> SourceLocation:
        return self.loc.nearest(path).value

    def node(self, path: Path) -> LocNode | None:
        return self.loc.find(path)

    def error(self, path: Path, message: str, *, hint: str | None = None) -> SpecError:
        return SpecError(f"{format_path(path)}: {message}", location=self.at(path), hint=hint)

    def convert(self, path: Path, func: Callable[[Any], T], value: Any) -> T:
        try:
            return func(value)
        except (ValueError, TypeError) as exc:
            raise self.error(path, str(exc)) from None

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def host_path(self, path: str) -> str:
        """A host path from the file: ``~`` expanded, relative paths resolved against the project dir."""
        if path == "~" or path.startswith("~/"):
            home = self.variables.get("HOME") or os.path.expanduser("~")
            path = home + path[1:]
        if not os.path.isabs(path):
            path = os.path.join(self.project_dir, path)
        return os.path.normpath(path)

    def defined(self, section: str) -> Mapping[str, Any]:
        entries = self.top.get(section)
        return entries if isinstance(entries, dict) else {}
