"""``escadre check`` through click's test runner, on a fresh group and on the real ``escadre`` group."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from escadre.cli import check_command
from escadre.cli.main import cli as escadre_cli
from tests.policy.conftest import CORPUS, ENV

BAD = str(CORPUS / "bad" / "compose.yaml")
GOOD = str(CORPUS / "good" / "compose.yaml")


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        """test group"""

    check_command.register(group)
    check_command.register(group)  # registering twice is harmless
    return group


def run(cli: click.Group, *args: str) -> object:
    return CliRunner().invoke(cli, ["check", *args], env={**ENV, "NO_COLOR": "1"}, catch_exceptions=False)


def test_text_report_and_exit_codes(cli: click.Group) -> None:
    bad = run(cli, "-f", BAD)
    assert bad.exit_code == 1, bad.output  # type: ignore[attr-defined]
    assert "ESC-CNT-001" in bad.output and "BLOCKING" in bad.output  # type: ignore[attr-defined]
    good = run(cli, "-f", GOOD, "--pack", "restricted")
    assert good.exit_code == 0, good.output  # type: ignore[attr-defined]
    assert "passed: 0 findings" in good.output  # type: ignore[attr-defined]


def test_fail_on_changes_the_exit_code(cli: click.Group, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: nginx:1.27\n")
    compose = str(tmp_path / "compose.yaml")
    assert run(cli, "-f", compose).exit_code == 0  # type: ignore[attr-defined]
    assert run(cli, "-f", compose, "--fail-on", "low").exit_code == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit"])
def test_machine_formats(cli: click.Group, fmt: str, tmp_path: Path) -> None:
    out = tmp_path / f"report.{fmt}"
    result = run(cli, "-f", BAD, "--format", fmt, "--output", str(out))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    text = out.read_text()
    if fmt == "junit":
        assert ET.fromstring(text).tag == "testsuites"
    else:
        doc = json.loads(text)
        assert doc["version"] in (1, "2.1.0")


def test_write_and_use_a_baseline(cli: click.Group, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"
    wrote = run(cli, "-f", BAD, "--write-baseline", str(baseline))
    assert wrote.exit_code == 0 and baseline.exists()  # type: ignore[attr-defined]
    again = run(cli, "-f", BAD, "--baseline", str(baseline), "--format", "json")
    assert again.exit_code == 0  # type: ignore[attr-defined]
    assert json.loads(again.output)["summary"]["baselined"] > 0  # type: ignore[attr-defined]


def test_target_kind_with_manifests(cli: click.Group) -> None:
    manifests = str(CORPUS / "manifests" / "bad-kubernetes.yaml")
    result = run(cli, "-f", GOOD, "--target", "kubernetes", "--manifests", manifests, "--format", "json")
    doc = json.loads(result.output)  # type: ignore[attr-defined]
    assert doc["target"] == "kubernetes"
    assert {f["rule"] for f in doc["findings"]} >= {"ESC-K8S-001", "ESC-K8S-002", "ESC-K8S-005"}
    usage = run(cli, "-f", GOOD, "--manifests", manifests)
    assert usage.exit_code == 2  # type: ignore[attr-defined]


def test_target_by_registered_name(cli: click.Group, tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services:\n  a:\n    image: nginx:1.27\n")
    result = run(cli, "-f", str(tmp_path / "compose.yaml"), "--target", "local", "--format", "json")
    assert json.loads(result.output)["target"] == "docker"  # type: ignore[attr-defined]


def test_swarm_support_report_and_strict(cli: click.Group, tmp_path: Path) -> None:
    """What Swarm cannot honour is listed (file:line) without failing; ``--strict`` makes it fail."""
    (tmp_path / "compose.yaml").write_text(
        "services:\n"
        "  a:\n"
        "    image: nginx:1.27\n"
        "    read_only: true\n"
        "    security_opt: [no-new-privileges:true]\n"
        "    cap_drop: [ALL]\n"
        "    blkio_config: {weight: 300}\n"
    )
    compose = str(tmp_path / "compose.yaml")
    report = run(cli, "-f", compose, "--target", "swarm")
    assert report.exit_code == 0, report.output  # type: ignore[attr-defined]
    assert "services.a.blkio_config" in report.output and "compose.yaml:7" in report.output  # type: ignore[attr-defined]
    strict = run(cli, "-f", compose, "--target", "swarm", "--strict")
    assert strict.exit_code == 1, strict.output  # type: ignore[attr-defined]
    docker = run(cli, "-f", compose, "--target", "docker", "--strict")
    assert "blkio_config" not in docker.output  # type: ignore[attr-defined]  # the engine honours it


def test_list_rules(cli: click.Group) -> None:
    text = run(cli, "--list-rules")
    assert "ESC-CNT-001" in text.output and "baseline" in text.output  # type: ignore[attr-defined]
    rules = json.loads(run(cli, "--list-rules", "--format", "json").output)  # type: ignore[attr-defined]
    assert len(rules) >= 45 and rules[0]["refs"]


def test_unknown_pack_is_exit_2() -> None:
    check_command.register(escadre_cli)
    from escadre.cli.main import main

    with pytest.raises(SystemExit) as exited:
        main(["check", "-f", GOOD, "--pack", "nope"])
    assert exited.value.code == 2


def test_help_stays_light() -> None:
    code = (
        "import sys; from escadre.cli import main, check_command; check_command.register(main.cli); "
        "heavy = [m for m in ('escadre.policy', 'escadre.spec.loader', 'yaml', 'docker') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""
