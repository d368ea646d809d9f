"""Packs select rules; thresholds decide the exit code; plugins add rules and packs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from escadre.core.errors import UsageError
from escadre.model.project import Project
from escadre.policy import Hit, Pack, Refs, RuleSet, builtin_registry, evaluate, load_plugins
from escadre.policy.registry import ENTRY_POINT_GROUP
from tests.policy.conftest import OPTIONS, write

REGISTRY = builtin_registry()


def _ids(pack: str) -> set[str]:
    return {r.id for r in REGISTRY.select([pack])}


def test_pack_membership() -> None:
    assert _ids("restricted") == set(REGISTRY.rules)
    assert "ESC-CNT-001" in _ids("baseline") and "ESC-CNT-004" not in _ids("baseline")
    assert _ids("cis-docker") == {r.id for r in REGISTRY.rules.values() if r.refs.cis}
    assert _ids("nsa") == {r.id for r in REGISTRY.rules.values() if r.refs.nsa}
    assert "ESC-HST-001" in _ids("pss-baseline") and "ESC-CNT-003" not in _ids("pss-baseline")
    assert _ids("pss-baseline") < _ids("pss-restricted")
    assert "ESC-CNT-003" in _ids("pss-restricted")


def test_packs_change_what_is_reported(bad_project: Project) -> None:
    baseline = {f.rule_id for f in evaluate(bad_project, options=OPTIONS).findings}
    cis = {f.rule_id for f in evaluate(bad_project, packs=["cis-docker"], options=OPTIONS).findings}
    assert "ESC-CNT-004" not in baseline and "ESC-CNT-001" in baseline
    assert cis <= _ids("cis-docker") and "ESC-HST-004" in cis


def test_unknown_pack_is_a_usage_error(bad_project: Project) -> None:
    with pytest.raises(UsageError, match="unknown policy pack"):
        evaluate(bad_project, packs=["nope"])


def test_packs_and_threshold_from_x_escadre(tmp_path: Path) -> None:
    text = (
        "services:\n  a:\n    image: x:1\n    user: '1000'\n  b:\n    image: x:1\n    user: '1000'\n"
        "    x-escadre:\n      policy: {fail_on: low, packs: [restricted]}\n"
        "x-escadre:\n  policy: {fail_on: critical, packs: [baseline]}\n"
    )
    report = evaluate(write(tmp_path, text))
    assert report.fail_on == "critical" and report.packs == ("baseline",)
    assert not any(f.rule_id == "ESC-CNT-004" and f.service == "a" for f in report.findings)
    assert any(f.rule_id == "ESC-CNT-004" and f.service == "b" for f in report.findings)
    assert {f.service for f in report.blocking} == {"b"}  # b blocks at low, a only at critical


@pytest.mark.parametrize(("fail_on", "code"), [("critical", 1), ("info", 1)])
def test_exit_code_follows_the_threshold(bad_project: Project, fail_on: str, code: int) -> None:
    assert evaluate(bad_project, fail_on=fail_on, options=OPTIONS).exit_code == code  # type: ignore[arg-type]


def test_exit_code_zero_below_the_threshold(tmp_path: Path) -> None:
    project = write(tmp_path, "services:\n  a:\n    image: x:1\n")
    assert evaluate(project).exit_code == 0
    assert evaluate(project, fail_on="low").exit_code == 1


def test_custom_rule_and_pack_through_the_plugin_loader(tmp_path: Path) -> None:
    rules = RuleSet("compose", "acme")

    @rules.add("ACME-001", "Team label missing", "high", rationale="r", remediation="x", refs=Refs(), packs=("acme",))
    def team(s):  # type: ignore[no-untyped-def]
        if "com.acme.team" not in s.service.labels:
            yield Hit("has no com.acme.team label", ("labels",))

    def register(registry):  # type: ignore[no-untyped-def]
        registry.add_pack(Pack("acme", "ACME house rules"))

    registry = load_plugins(builtin_registry(), [rules.rules, register])
    project = write(
        tmp_path, "services:\n  a:\n    image: x:1\n  b:\n    image: x:1\n    labels: {com.acme.team: pay}\n"
    )
    report = evaluate(project, packs=["acme"], registry=registry)
    assert [(f.rule_id, f.service) for f in report.findings] == [("ACME-001", "a")]
    assert report.exit_code == 1
    with pytest.raises(UsageError, match="defined twice"):
        load_plugins(registry, [dataclasses.replace(REGISTRY.rules["ESC-CNT-001"], title="another")])
    with pytest.raises(UsageError, match="not a Rule"):
        load_plugins(builtin_registry(), [42])


def test_entry_points_are_loaded_from_the_escadre_policy_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata as md

    seen: list[str] = []

    class Point:
        name, value = "acme", "acme:register"

        def load(self):  # type: ignore[no-untyped-def]
            return lambda registry: seen.append("loaded")

    def fake(group: str):  # type: ignore[no-untyped-def]
        seen.append(group)
        return [Point()]

    monkeypatch.setattr(md, "entry_points", fake)
    load_plugins(builtin_registry())
    assert seen == [ENTRY_POINT_GROUP, "loaded"]
