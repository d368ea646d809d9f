"""Waivers (scope, expiry), inline suppression comments and the baseline file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from escadre.core.errors import UsageError
from escadre.policy import evaluate
from escadre.policy.suppress import write_baseline
from tests.policy.conftest import write

PRIVILEGED = """
services:
  web:
    image: nginx:1.27
    privileged: true{comment}
  worker:
    image: nginx:1.27
    privileged: true
"""


def _status(report, service: str, rule: str = "ESC-CNT-001") -> str:  # type: ignore[no-untyped-def]
    return next(f.status for f in report.findings if f.rule_id == rule and f.service == service)


def test_waiver_with_scope_and_reason(tmp_path: Path) -> None:
    text = PRIVILEGED.format(comment="") + (
        "x-escadre:\n  policy:\n    waivers:\n"
        "      - {rule: ESC-CNT-001, scope: web, reason: needs /dev/kvm, expires: 2099-01-01}\n"
    )
    report = evaluate(write(tmp_path, text))
    assert _status(report, "web") == "waived" and _status(report, "worker") == "open"
    waived = next(f for f in report.findings if f.status == "waived")
    assert "needs /dev/kvm" in waived.justification and not waived.blocking
    assert report.exit_code == 1  # worker still blocks


def test_expired_waiver_stops_counting_and_is_reported(tmp_path: Path) -> None:
    text = PRIVILEGED.format(comment="") + (
        "x-escadre:\n  policy:\n    waivers:\n      - {rule: 'ESC-CNT-*', reason: old, expires: 2024-01-31}\n"
    )
    project = write(tmp_path, text)
    before = evaluate(project, today=dt.date(2024, 1, 31))
    after = evaluate(project, today=dt.date(2024, 2, 1))
    assert _status(before, "web") == "waived" and _status(before, "worker") == "waived"
    assert _status(after, "web") == "open"
    assert [w.rule for w in after.expired_waivers] == ["ESC-CNT-*"]
    assert after.expired_waivers[0].location is not None and after.expired_waivers[0].location.line == 12


def test_service_level_waiver_applies_to_its_service_only(tmp_path: Path) -> None:
    text = PRIVILEGED.format(
        comment="\n    x-escadre:\n      policy:\n        waivers: [{rule: ESC-CNT-001, reason: lab machine}]"
    )
    report = evaluate(write(tmp_path, text))
    assert _status(report, "web") == "waived" and _status(report, "worker") == "open"


def test_path_scoped_waiver(tmp_path: Path) -> None:
    text = PRIVILEGED.format(comment="") + (
        "x-escadre:\n  policy:\n    waivers:\n"
        "      - {rule: ESC-CNT-001, scope: services.worker.privileged, reason: r}\n"
    )
    report = evaluate(write(tmp_path, text))
    assert _status(report, "worker") == "waived" and _status(report, "web") == "open"


@pytest.mark.parametrize(
    "comment",
    [
        "   # escadre:ignore ESC-CNT-001 needs /dev/kvm",
        "   # escadre:ignore=ESC-CNT-001,ESC-HST-001 needs /dev/kvm",
    ],
)
def test_inline_suppression_on_the_line(tmp_path: Path, comment: str) -> None:
    report = evaluate(write(tmp_path, PRIVILEGED.format(comment=comment)))
    suppressed = next(f for f in report.findings if f.status == "suppressed")
    assert suppressed.service == "web" and suppressed.justification == "needs /dev/kvm"
    assert _status(report, "worker") == "open"


def test_inline_suppression_on_the_line_above_and_in_dockerfiles(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text(
        "FROM alpine:3.20\n# escadre:ignore=ESC-DKR-004 checksum verified below\nADD a.tgz /opt/\nADD b.tgz /opt/\n"
    )
    text = "services:\n  web:\n    # escadre:ignore ESC-CNT-001 lab\n    privileged: true\n    build: ./ctx\n"
    report = evaluate(write(tmp_path, text), packs=["restricted"])
    assert _status(report, "web") == "suppressed"
    adds = sorted((f.location.line, f.status) for f in report.findings if f.rule_id == "ESC-DKR-004" and f.location)
    assert adds == [(3, "suppressed"), (4, "open")]


def test_an_ignore_comment_for_another_rule_does_not_suppress(tmp_path: Path) -> None:
    report = evaluate(write(tmp_path, PRIVILEGED.format(comment="  # escadre:ignore ESC-HST-001 no")))
    assert _status(report, "web") == "open"


def test_baseline_accepts_recorded_findings_and_survives_moved_lines(tmp_path: Path) -> None:
    project = write(tmp_path, PRIVILEGED.format(comment=""))
    first = evaluate(project)
    baseline = tmp_path / "baseline.json"
    assert write_baseline(str(baseline), first.open) == len({f.fingerprint for f in first.open})
    assert "line" not in baseline.read_text()
    moved = PRIVILEGED.format(comment="").replace("services:\n", "services:\n\n\n  # moved down\n")
    moved += "  new:\n    image: nginx:1.27\n    pid: host\n"
    again = evaluate(write(tmp_path, moved), baseline=str(baseline))
    assert {f.status for f in again.findings if f.rule_id == "ESC-CNT-001"} == {"baselined"}
    assert [f.rule_id for f in again.blocking] == ["ESC-HST-002"]  # only the new finding blocks


def test_baseline_from_x_escadre_is_relative_to_the_project(tmp_path: Path) -> None:
    project = write(tmp_path, PRIVILEGED.format(comment=""))
    write_baseline(str(tmp_path / "accepted.json"), evaluate(project).open)
    text = PRIVILEGED.format(comment="") + "x-escadre:\n  policy:\n    baseline: accepted.json\n"
    assert evaluate(write(tmp_path, text)).exit_code == 0


def test_bad_baseline_files_are_usage_errors(tmp_path: Path) -> None:
    project = write(tmp_path, PRIVILEGED.format(comment=""))
    with pytest.raises(UsageError, match="not found"):
        evaluate(project, baseline=str(tmp_path / "missing.json"))
    (tmp_path / "wrong.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(UsageError, match="not an Escadre baseline"):
        evaluate(project, baseline=str(tmp_path / "wrong.json"))
