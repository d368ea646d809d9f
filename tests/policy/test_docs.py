from __future__ import annotations

from pathlib import Path

import escadre.policy
from escadre.policy.docs import committed_block, rules_block

ROOT = Path(__file__).parents[2]


def test_policy_doc_rule_tables_are_in_sync() -> None:
    assert committed_block(ROOT / "docs/policy.md") == rules_block(), "regenerate: python -m escadre.policy.docs"


def test_public_names_are_pinned() -> None:
    assert escadre.policy.__all__ == [
        "DEFAULT_FAIL_ON",
        "ENTRY_POINT_GROUP",
        "SEVERITIES",
        "CheckReport",
        "DockerfileInput",
        "Finding",
        "Hit",
        "Pack",
        "Refs",
        "Registry",
        "Rule",
        "RuleOptions",
        "RuleSet",
        "ServiceInput",
        "Severity",
        "SupportIssue",
        "TargetInput",
        "builtin_registry",
        "default_registry",
        "evaluate",
        "load_plugins",
        "locate",
        "render",
    ]
