"""The Kubernetes support table: complete, honest (no silent drop), and what --strict acts on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from escadre.cli.main import cli
from escadre.core.errors import UsageError
from escadre.drivers.kubernetes.support import SERVICE, TABLE, TOP_LEVEL
from escadre.drivers.registry import support_table
from escadre.drivers.support import report
from tests.drivers.kubernetes.helpers import EXAMPLES, FIXTURES, ROOT, load_example

SCHEMA = json.loads((ROOT / "src/escadre/spec/compose-spec.json").read_text())


def test_every_compose_service_key_is_classified() -> None:
    keys = set(SCHEMA["definitions"]["service"]["properties"])
    assert keys - set(SERVICE) == set()
    for sub in ("deployment", "healthcheck"):
        prefix = "deploy" if sub == "deployment" else sub
        for key in SCHEMA["definitions"][sub]["properties"]:
            assert f"{prefix}.{key}" in SERVICE or prefix in SERVICE, f"{prefix}.{key}"


@pytest.mark.parametrize("section", ["network", "volume", "secret", "config"])
def test_every_top_level_key_is_classified(section: str) -> None:
    for key in SCHEMA["definitions"][section]["properties"]:
        assert f"{section}s.*.{key}" in TOP_LEVEL, f"{section}s.*.{key}"


def test_keys_are_honoured_approximated_or_rejected_never_silently_ignored() -> None:
    assert {s.level for s in TABLE.values()} == {"honoured", "approximated", "rejected"}
    for key, support in TABLE.items():
        if support.level != "honoured":
            assert len(support.note) > 10, f"{key} must say what happens instead"


def test_the_registry_serves_this_table() -> None:
    assert support_table("kubernetes") is TABLE


def test_report_on_the_example_names_each_approximation() -> None:
    findings = {(f.path, f.level) for f in report(load_example(EXAMPLES[1]), TABLE)}
    assert ("services.api.build", "approximated") in findings
    assert ("services.api.logging", "approximated") in findings  # Kompose drops logging silently
    assert ("services.api.depends_on", "approximated") in findings
    assert not [f for f in findings if f[1] == "rejected"]


def test_render_command_reports_and_strict_refuses(tmp_path: Path) -> None:
    runner = CliRunner()
    compose = str(FIXTURES / "basic" / "compose.yaml")
    result = runner.invoke(cli, ["render", "-f", compose, "kubernetes", "--namespace", "prod", "--k8s-version", "1.29"])
    assert result.exit_code == 0, result.output
    assert "for Kubernetes 1.29" in result.stdout
    assert "namespace: prod" in result.stdout
    strict = runner.invoke(cli, ["render", "-f", compose, "kubernetes", "--strict"])
    assert isinstance(strict.exception, UsageError)  # escadre.cli.main turns it into exit 2
    assert "does not fully honour" in str(strict.exception)


def test_render_command_writes_a_file(tmp_path: Path) -> None:
    out = tmp_path / "app.yaml"
    result = CliRunner().invoke(
        cli, ["render", "-f", str(FIXTURES / "jobs" / "compose.yaml"), "kubernetes", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "kind: Job" in out.read_text()


def test_render_and_the_driver_module_do_not_import_the_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import escadre.drivers.kubernetes.render, escadre.drivers.kubernetes.driver\n"
        "print([m for m in ('kubernetes', 'urllib3', 'kubernetes_validate') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
