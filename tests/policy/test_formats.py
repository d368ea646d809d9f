"""Report formats: SARIF validated against the official 2.1.0 schema, JUnit parsed, JSON and text."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from escadre.policy import CheckReport, SupportIssue, render
from escadre.policy.formats import SUPPORT_RULE

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text())


def _with_everything(report: CheckReport) -> CheckReport:
    """A report with waived, suppressed and support entries too, so every branch is rendered."""
    findings = list(report.findings)
    findings[0] = replace(findings[0], status="waived", justification="reviewed", blocking=False)
    findings[1] = replace(findings[1], status="suppressed", justification="inline", blocking=False)
    support = (
        SupportIssue("services.priv.devices", "services.*.devices", "rejected", "no devices on this target", None),
        SupportIssue("services.caps.cap_add", "services.*.cap_add", "approximated", "as securityContext", None),
    )
    return replace(report, findings=tuple(findings), support=support, target_kind="kubernetes")


def test_sarif_is_valid_against_the_official_schema(bad_report: CheckReport) -> None:
    report = _with_everything(bad_report)
    log = json.loads(render(report, "sarif"))
    validator = jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    run = log["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert SUPPORT_RULE in rules and rules["ESC-CNT-001"]["properties"]["security-severity"] == "9.5"
    privileged = next(r for r in run["results"] if r["ruleId"] == "ESC-CNT-001")
    region = privileged["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (7, 5)
    assert privileged["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    assert run["results"][0]["suppressions"][0]["kind"] == "external"
    assert run["results"][1]["suppressions"][0]["kind"] == "inSource"
    for result in run["results"]:
        if result["ruleId"] != SUPPORT_RULE:
            assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_of_a_clean_project_is_valid(good_report: CheckReport) -> None:
    log = json.loads(render(good_report, "sarif"))
    jsonschema.validate(log, SCHEMA, cls=jsonschema.Draft4Validator)
    assert log["runs"][0]["results"] == []


def test_junit_has_one_case_per_rule_and_fails_the_blocking_ones(bad_report: CheckReport) -> None:
    report = _with_everything(bad_report)
    root = ET.fromstring(render(report, "junit"))
    policy, support = root.findall("testsuite")
    cases = policy.findall("testcase")
    assert len(cases) == len(report.rules)
    failed = {c.get("name", "").split()[0] for c in cases if c.find("failure") is not None}
    assert failed == {f.rule_id for f in report.blocking}
    assert int(policy.get("failures", "0")) == len(failed)
    assert [c.find("failure") is not None for c in support.findall("testcase")] == [True, False]
    assert root.get("tests") == str(len(cases) + 2)


def test_json_lists_every_finding_with_location_and_status(bad_report: CheckReport) -> None:
    report = _with_everything(bad_report)
    doc = json.loads(render(report, "json"))
    assert doc["exit_code"] == 1 and doc["fail_on"] == "high"
    assert len(doc["findings"]) == len(report.findings)
    first = doc["findings"][0]
    assert set(first) >= {"rule", "severity", "file", "line", "column", "path", "status", "blocking", "fingerprint"}
    assert doc["summary"]["waived"] == 1 and doc["summary"]["suppressed"] == 1
    assert doc["support"][0]["error"] is True


def test_text_groups_by_service_and_colours_only_when_asked(bad_report: CheckReport) -> None:
    plain = render(bad_report, "text", color=False)
    assert "service priv" in plain and "bad-image/Dockerfile (built for built)" in plain
    assert "\x1b[" not in plain
    assert "FAILED:" in plain.splitlines()[-1]
    assert plain.count("fix: Remove `privileged: true`") == 1
    assert "\x1b[" in render(bad_report, "text", color=True)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render(CheckReport(project="x", packs=(), fail_on="high"), "yaml")
