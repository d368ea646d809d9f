"""From the user's ``analysis_templates`` to the metrics one run measures, checked before anything runs.

An ``AnalysisRef`` (a canary step's ``analysis:``, a blue-green pre/post-promotion analysis, the
background ``rollout.analysis``) names templates; their metrics are measured together as one run.
Everything that can be known wrong before the first measurement is reported here, all at once, as a
``SpecError``: an unknown template, two metrics with the same name, a condition that does not parse or
uses a name the provider does not give, a placeholder without value. Finding a typo in a condition
after a ten-minute ``initial_delay`` — in production, mid-rollout — is exactly what this prevents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from escadre.core.errors import SpecError
from escadre.rollout.analysis import judge, templating
from escadre.rollout.conditions import ConditionError, validate

if TYPE_CHECKING:
    from escadre.model.settings import AnalysisRef, AnalysisTemplate, Metric


def metrics_for(ref: AnalysisRef, templates: Mapping[str, AnalysisTemplate]) -> list[Metric]:
    """The metrics of the templates ``ref`` names, in order; ``ref.interval`` (given for background
    analysis) replaces every metric's own interval. Raises ``SpecError`` for an unknown template."""
    missing = [name for name in ref.templates if name not in templates]
    if missing:
        known = ", ".join(sorted(templates)) or "none defined"
        raise SpecError(
            f"unknown analysis template{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"(known: {known})",
            hint="define it under x-escadre: analysis_templates: at the top level of the Compose file",
        )
    metrics = [metric for name in ref.templates for metric in templates[name].metrics]
    if ref.interval is not None:
        metrics = [metric.model_copy(update={"interval": ref.interval}) for metric in metrics]
    return metrics


def problems(metrics: Sequence[Metric], args: Mapping[str, str]) -> list[str]:
    """Everything wrong with ``metrics`` that can be seen before measuring, one message each."""
    found: list[str] = []
    seen: set[str] = set()
    for metric in metrics:
        if metric.name in seen:
            found.append(f"two metrics are named {metric.name!r}: metric names must be unique within an analysis")
        seen.add(metric.name)
        names = judge.variable_names(metric)
        for key in ("success_condition", "failure_condition"):
            expression = getattr(metric, key)
            if expression and expression.strip():
                try:
                    validate(expression, names)
                except ConditionError as exc:
                    found.append(f"metric {metric.name!r}: {key}: {exc}")
        for key, text in templating.templated_fields(metric):
            bad = templating.unknown(text, args)
            if bad:
                found.append(f"metric {metric.name!r}: {key}: {templating.describe_unknown(bad, args)}")
    return found


def validate_metrics(metrics: Sequence[Metric], *, args: Mapping[str, str] | None = None, analysis: str = "") -> None:
    """Raise one ``SpecError`` listing every problem of ``metrics`` (see ``problems``)."""
    args = args or {}
    if not metrics:
        raise SpecError(f"analysis {analysis!r} has no metric" if analysis else "an analysis needs at least one metric")
    found = problems(metrics, args)
    if not found:
        return
    where = f"analysis {analysis!r}: " if analysis else ""
    bad = [
        name
        for metric in metrics
        for _, text in templating.templated_fields(metric)
        for name in templating.unknown(text, args)
    ]
    hint = templating.args_hint(bad) or "see docs/x-escadre.md, analysis_templates"
    if len(found) == 1:
        raise SpecError(where + found[0], hint=hint)
    raise SpecError(where + f"{len(found)} problems:\n  - " + "\n  - ".join(found), hint=hint)
