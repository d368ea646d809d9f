"""Every rule fires on the bad corpus and stays silent on the good one (table-driven over the registry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from escadre.model.project import Project
from escadre.policy import CheckReport, builtin_registry, evaluate
from escadre.policy.model import TARGET_KINDS
from tests.policy.conftest import MANIFESTS, OPTIONS, write

REGISTRY = builtin_registry()
TARGET_FIXTURES = {
    "kubernetes": ("bad-kubernetes.yaml", "good-kubernetes.yaml"),
    "swarm": ("bad-swarm.yaml", "good-swarm.yaml"),
    "ecs": ("bad-ecs.json", "good-ecs.json"),
}


def test_there_are_at_least_45_rules_each_fully_described() -> None:
    assert len(REGISTRY.rules) >= 45
    for rule in REGISTRY.rules.values():
        assert rule.id.startswith("ESC-") and rule.title and rule.rationale and rule.remediation
        assert rule.severity in ("info", "low", "medium", "high", "critical")
        assert rule.check is not None


def _target_report(project: Project, kind: str, name: str) -> CheckReport:
    text = (MANIFESTS / name).read_text()
    return evaluate(project, packs=["restricted"], target_kind=kind, rendered=text, rendered_file=name, options=OPTIONS)


@pytest.mark.parametrize("rule_id", sorted(REGISTRY.rules))
def test_rule_fires_on_bad_and_not_on_good(
    rule_id: str, bad_report: CheckReport, good_report: CheckReport, good_project: Project
) -> None:
    rule = REGISTRY.rules[rule_id]
    if rule.kind in TARGET_KINDS:
        bad_name, good_name = TARGET_FIXTURES[rule.kind]
        bad = _target_report(good_project, rule.kind, bad_name)
        good = _target_report(good_project, rule.kind, good_name)
    else:
        bad, good = bad_report, good_report
    fired = [f for f in bad.findings if f.rule_id == rule_id]
    assert fired, f"{rule_id} did not fire on the bad fixture"
    assert not [f for f in good.findings if f.rule_id == rule_id], f"{rule_id} fired on the good fixture"
    for finding in fired:
        assert finding.location is not None and finding.location.line > 0, finding


def test_good_corpus_is_clean_under_every_pack(good_project: Project) -> None:
    for pack in REGISTRY.packs:
        assert evaluate(good_project, packs=[pack], options=OPTIONS).findings == ()


def _paths(report: CheckReport, rule_id: str) -> set[str]:
    return {f.path for f in report.findings if f.rule_id == rule_id}


def test_secrets_in_environment_list_and_map_forms(bad_report: CheckReport) -> None:
    literal = _paths(bad_report, "ESC-SEC-001")
    assert "services.secrets-list.environment.DB_PASSWORD" in literal  # list form
    assert "services.secrets-map.environment.SMTP_PASSWORD" in literal  # map form
    assert "services.secrets-map.environment.DATABASE_URL" in literal  # a URL with a password
    assert _paths(bad_report, "ESC-SEC-002") == {"services.secrets-list.environment.API_TOKEN"}  # interpolated
    assert _paths(bad_report, "ESC-SEC-003") == {"services.secrets-list.environment.GITHUB"}
    everything = {f.path for f in bad_report.findings}
    for harmless in ("DB_PASSWORD_FILE", "TOKEN_TTL", "LOG_LEVEL"):
        assert not any(p.endswith("environment." + harmless) for p in everything)


def test_secret_messages_never_contain_the_value(bad_report: CheckReport) -> None:
    for finding in bad_report.findings:
        for value in ("hunter2-literal", "s3cr3t-value", "pa55word", "abcdef1234567890", "ghp_abc"):
            assert value not in finding.message


def test_env_file_values_are_passed_not_written(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("DB_PASSWORD=from-an-env-file\n")
    project = write(tmp_path, "services:\n  a:\n    image: x:1\n    env_file: app.env\n")
    report = evaluate(project, packs=["restricted"])
    assert _paths(report, "ESC-SEC-002") == {"services.a.environment.DB_PASSWORD"}
    assert not _paths(report, "ESC-SEC-001")


def test_findings_point_at_the_key_inside_the_service(bad_report: CheckReport) -> None:
    privileged = next(f for f in bad_report.findings if f.rule_id == "ESC-CNT-001")
    assert privileged.location is not None
    assert privileged.path == "services.priv.privileged"
    assert (privileged.location.line, privileged.location.column) == (7, 5)
    socket = next(f for f in bad_report.findings if f.rule_id == "ESC-HST-006")
    assert socket.location is not None and socket.location.line == 15  # the list item


def test_runs_as_root_reads_the_dockerfile_user(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM alpine:3.20 AS base\nUSER 10001\nFROM base\nRUN true\n")
    project = write(tmp_path, "services:\n  a:\n    build: ./ctx\n")
    report = evaluate(project, packs=["restricted"])
    assert not _paths(report, "ESC-CNT-003")  # inherited through FROM base
    assert not _paths(report, "ESC-DKR-001")


def test_one_shot_jobs_need_no_healthcheck(tmp_path: Path) -> None:
    project = write(tmp_path, 'services:\n  job:\n    image: x:1\n    restart: "no"\n')
    assert not _paths(evaluate(project, packs=["restricted"]), "ESC-REL-001")


def test_target_findings_trace_back_to_the_compose_key(good_project: Project) -> None:
    report = _target_report(good_project, "kubernetes", "bad-kubernetes.yaml")
    web = good_project.locations[("services", "web")]
    secret_env = next(f for f in report.findings if f.rule_id == "ESC-K8S-005")
    assert secret_env.location is not None
    assert secret_env.location.file == web.file
    assert secret_env.location.line == good_project.locations[("services", "web", "environment")].line
    assert secret_env.services == ("web",) and secret_env.obj == "Deployment/web"


def test_untraceable_target_findings_point_at_the_rendered_text(bad_project: Project) -> None:
    report = _target_report(bad_project, "swarm", "bad-swarm.yaml")
    overlay = next(f for f in report.findings if f.rule_id == "ESC-SWM-001")
    assert overlay.location is not None
    assert overlay.location.file == "bad-swarm.yaml" and overlay.location.line == 6


def test_demo_application_has_no_blocking_finding() -> None:
    from escadre.spec import load_project

    root = Path(__file__).parents[2]
    project = load_project([str(root / "examples/shop/compose.yaml")])
    report = evaluate(project)
    assert report.blocking == [] and report.exit_code == 0
    assert report.duration < 0.5
