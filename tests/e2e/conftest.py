"""End-to-end tests: the real ``escadre`` command against the real Docker engine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import unique


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Workspace:
    """A project directory, an isolated state file and a way to run ``escadre`` in it."""

    dir: Path
    name: str
    env: dict[str, str]

    def write(self, relpath: str, text: str) -> Path:
        path = self.dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
        return path

    def run(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 240,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "escadre.cli.main", *args],
            cwd=self.dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            check=False,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"escadre {' '.join(args)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc


@pytest.fixture
def ws(tmp_path: Path, busybox: str) -> Iterator[Workspace]:
    name = unique("e2e")
    directory = tmp_path / name
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESCADRE_", "COMPOSE_"))}
    env["ESCADRE_STATE"] = str(tmp_path / "state.db")
    env["COMPOSE_PROJECT_NAME"] = name
    workspace = Workspace(directory, name, env)
    yield workspace
    workspace.run("down", "-v", "-p", name, check=False)
