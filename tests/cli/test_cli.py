"""The command line itself: fast help, no SDK at start-up, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from escadre import __version__
from escadre.cli.main import cli


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "escadre.cli.main", *args], capture_output=True, text=True, cwd=cwd, env=env, check=False
    )


def test_help_imports_no_sdk_and_nothing_heavy() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['escadre', '--help']\n"
        "try:\n"
        "    runpy.run_module('escadre.cli.main', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('docker', 'kubernetes', 'boto3', 'sqlalchemy', 'pydantic', 'rich', 'yaml',"
        " 'jsonschema', 'requests', 'alembic') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "escadre config" in out


def test_version_and_every_command_has_help() -> None:
    runner = CliRunner()
    assert __version__ in runner.invoke(cli, ["--version"]).output
    for command in ("config", "up", "plan", "ps", "logs", "down", "history", "target", "target add"):
        result = runner.invoke(cli, [*command.split(), "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.output


def test_usage_errors_exit_2() -> None:
    assert run("nope").returncode == 2
    assert run("up", "--timeout", "soon").returncode == 2


def test_spec_error_is_one_message_with_location_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: x\n    restart: sometimes\n")
    result = run("config", cwd=tmp_path)
    assert result.returncode == 2
    assert "compose.yaml:4:" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") <= 3


def test_config_redacts_secret_looking_values(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: x\n    environment:\n      DB_PASSWORD: hunter2\n      MODE: prod\n"
    )
    result = run("config", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0
    assert "hunter2" not in result.stdout
    assert '"MODE": "prod"' in result.stdout


def test_debug_env_shows_the_traceback(tmp_path: Path) -> None:
    import os

    (tmp_path / "compose.yaml").write_text("services: {web: {image: x, restart: sometimes}}\n")
    result = run("config", cwd=tmp_path, env={**os.environ, "ESCADRE_DEBUG": "1"})
    assert result.returncode == 2
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("command", ["ps", "history", "logs", "down"])
def test_project_commands_without_a_compose_file_explain(tmp_path: Path, command: str) -> None:
    result = run(command, cwd=tmp_path)
    assert result.returncode == 2
    assert "compose.yaml" in result.stderr and "Traceback" not in result.stderr
