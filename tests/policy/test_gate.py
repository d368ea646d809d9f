"""The deploy gate: refuse on blocking findings, or let the deploy go on and record who allowed it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from escadre.core.errors import OperationFailed
from escadre.core.progress import CollectingProgress
from escadre.operations.check import GATE_EVENT, check, gate
from escadre.operations.context import Context
from tests.policy.conftest import write

RISKY = """
services:
  web:
    image: nginx:1.27
    privileged: true
  db:
    image: postgres:16
"""


def test_gate_refuses_and_names_the_blocking_findings(ctx: Context, tmp_path: Path) -> None:
    project = write(tmp_path, RISKY)
    with pytest.raises(OperationFailed) as raised:
        gate(ctx, project, target="local", target_kind="docker", allow=False)
    message = str(raised.value)
    assert "ESC-CNT-001" in message and "compose.yaml:5:5" in message and "runs privileged" in message
    assert raised.value.exit_code == 1
    assert "--allow-policy-violations" in str(raised.value.hint)


def test_gate_allows_and_records_the_event(ctx: Context, tmp_path: Path) -> None:
    project = write(tmp_path, RISKY)
    ctx.actor = "alice"
    report = gate(ctx, project, target="local", target_kind="docker", allow=True)
    assert [f.rule_id for f in report.blocking] == ["ESC-CNT-001"]
    events = [e for e in ctx.store.events(project=project.name, target="local") if e.kind == GATE_EVENT]
    assert len(events) == 1
    event = events[0]
    assert event.level == "warning" and event.actor == "alice"
    assert event.data["findings"][0]["rule"] == "ESC-CNT-001"
    assert event.data["findings"][0]["location"].endswith("compose.yaml:5:5")


def test_gate_passes_clean_projects_and_warns_below_the_threshold(ctx: Context, tmp_path: Path) -> None:
    project = write(tmp_path, "services:\n  web:\n    image: nginx:1.27\n")
    report = gate(ctx, project, target="local", target_kind="docker", allow=False)
    assert report.blocking == [] and report.warnings
    assert isinstance(ctx.progress, CollectingProgress)
    (warning,) = ctx.progress.find(status="warning")
    assert warning.subject == "policy"
    assert warning.action == f"{len(report.warnings)} finding(s) below the gate"
    assert "escadre check" in warning.detail


def test_gate_honours_fail_on_and_waivers(ctx: Context, tmp_path: Path) -> None:
    text = RISKY + "x-escadre:\n  policy:\n    waivers: [{rule: ESC-CNT-001, scope: web, reason: kvm}]\n"
    gate(ctx, write(tmp_path, text), target="local", target_kind="docker", allow=False)
    strict = "services:\n  web:\n    image: nginx:1.27\nx-escadre:\n  policy: {fail_on: medium}\n"
    with pytest.raises(OperationFailed, match="at or above medium"):
        gate(ctx, write(tmp_path, strict), target="local", target_kind="docker", allow=False)


def test_gate_is_fast_on_the_demo(ctx: Context) -> None:
    from escadre.spec import load_project

    project = load_project([str(Path(__file__).parents[2] / "examples/shop/compose.yaml")])
    started = time.perf_counter()
    gate(ctx, project, target="local", target_kind="docker", allow=False)
    assert time.perf_counter() - started < 0.5


def test_check_adds_the_support_report_and_strict(ctx: Context, tmp_path: Path) -> None:
    text = "services:\n  web:\n    image: nginx:1.27\n    attach: false\n    user: '10001'\n"
    project = write(tmp_path, text)
    report = check(ctx, project, target_kind="docker", fail_on="critical")
    assert report.exit_code == 0  # an ignored key is reported, not an error
    issue = next(s for s in report.support if s.path == "services.web.attach")
    assert issue.level == "ignored" and issue.location is not None and issue.location.line == 4
    assert check(ctx, project, target_kind="docker", fail_on="critical", strict=True).exit_code == 1


def test_check_with_rendered_manifests_runs_target_rules(ctx: Context, good_project) -> None:  # type: ignore[no-untyped-def]
    text = (Path(__file__).parent / "corpus/manifests/bad-kubernetes.yaml").read_text()
    report = check(ctx, good_project, target_kind="kubernetes", rendered=text, rendered_file="k8s.yaml")
    assert {f.rule_id for f in report.findings if f.source == "kubernetes"} >= {"ESC-K8S-001", "ESC-K8S-005"}
