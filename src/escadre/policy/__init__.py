"""Escadre's security and compliance policy engine.

Rules run in process on the normalized Compose model (and on the Dockerfiles it builds, and on what a
driver renders for a target), so one rule set judges the application whatever the target, before anything
is deployed. Public API::

    evaluate(project, *, packs=(), fail_on=None, target_kind=None, rendered=None, baseline=None, ...)
        -> CheckReport
    render(report, "text" | "json" | "sarif" | "junit", color=False) -> str
    Rule, Refs, Hit, Finding, RuleSet, Pack, Registry     (to write custom rules and packs)
    default_registry(), builtin_registry(), load_plugins(registry, items=None)

Custom rules and packs come from the ``escadre.policy`` entry-point group (see ``docs/policy.md``).
The operations layer (``escadre.operations.check``) adds the target support report and the deploy gate.
"""

from escadre.policy.engine import evaluate, locate
from escadre.policy.formats import render
from escadre.policy.model import DEFAULT_FAIL_ON, SEVERITIES, Finding, Hit, Refs, Rule, RuleSet, Severity
from escadre.policy.registry import ENTRY_POINT_GROUP, Pack, Registry, builtin_registry, default_registry, load_plugins
from escadre.policy.report import CheckReport, SupportIssue
from escadre.policy.subjects import DockerfileInput, RuleOptions, ServiceInput, TargetInput

__all__ = [
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
