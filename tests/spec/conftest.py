"""Helpers for the spec tests: write Compose projects into ``tmp_path`` and load them hermetically."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from escadre.core.errors import SpecError
from escadre.spec import LoadResult, load


class Project:
    """A temporary Compose project directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def load(
        self,
        text: str | None = None,
        *,
        files: Sequence[str] = ("compose.yaml",),
        environ: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> LoadResult:
        if text is not None:
            self.write(files[0], text)
        kwargs.setdefault("project_name", "test")
        return load([str(self.root / f) for f in files], environ=dict(environ or {}), **kwargs)

    def spec(self, text: str, **kwargs: Any) -> dict[str, Any]:
        """The canonical document of ``text`` (as a plain dict)."""
        return dict(self.load(text, **kwargs).project.spec)

    def service(self, text: str, name: str = "web", **kwargs: Any) -> dict[str, Any]:
        return dict(self.spec(text, **kwargs)["services"][name])

    def error(self, text: str | None = None, **kwargs: Any) -> SpecError:
        with pytest.raises(SpecError) as info:
            self.load(text, **kwargs)
        return info.value


@pytest.fixture
def proj(tmp_path: Path) -> Project:
    return Project(tmp_path)


def where(error: SpecError) -> tuple[str, int, int]:
    """(file name, line, column) of an error."""
    assert error.location is not None, str(error)
    return Path(error.location.file).name, error.location.line, error.location.column


Loader = Callable[..., LoadResult]
