"""Placeholders in provider strings, template resolution and the up-front checks."""

from __future__ import annotations

import pytest

from escadre.core.errors import SpecError
from escadre.model.settings import AnalysisRef, AnalysisTemplate
from escadre.rollout.analysis import MeasureContext, MeasurementError, metrics_for, validate_metrics
from escadre.rollout.analysis.templating import TemplateError, render, values_for
from tests.rollout.analysis.helpers import metric, target

QUERY = 'sum(rate(http_requests_total{app="{{app}}",revision="{{ revision }}",code=~"5.."}[1m]))'


def test_render_fills_every_placeholder_and_leaves_promql_braces_alone() -> None:
    tgt = target(args={"env": "prod"})
    text = QUERY + " + on() {{role}} {{canary_revision}} {{stable_revision}} {{service}} {{args.env}}"
    assert render(text, values_for(tgt, "canary")) == (
        'sum(rate(http_requests_total{app="shop",revision="v2",code=~"5.."}[1m])) + on() canary v2 v1 api prod'
    )
    assert 'revision="v1"' in render(QUERY, values_for(tgt, "stable"))


def test_unknown_placeholders_are_named() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{app}} {{revison}} {{args.region}}", values_for(target(args={"env": "x"}), "canary"))
    message = str(info.value)
    assert "unknown placeholders {{revison}}, {{args.region}}" in message
    assert "known: {{app}}" in message and "{{args.env}}" in message
    assert "hint: give the analysis step its arguments: args: {region: ...}" in message


def test_stable_placeholder_without_stable_revision() -> None:
    ctx = MeasureContext(target(stable_revision=None), "m", "canary")
    with pytest.raises(MeasurementError) as info:
        ctx.render("x{revision='{{stable_revision}}'}")
    assert info.value.permanent
    assert "no stable revision" in str(info.value)


def test_validate_names_unknown_placeholders_per_metric() -> None:
    metrics = [
        metric("errors", provider={"prometheus": {"query": "x{app='{{application}}'}"}}),
        metric("hook", provider={"webhook": {"url": "http://h/{{args.suite}}"}}),
        metric("probe", provider={"http": {"path": "/{{args.env}}/health"}}),
    ]
    with pytest.raises(SpecError) as info:
        validate_metrics(metrics, args={"env": "prod"}, analysis="smoke")
    message = str(info.value)
    assert "metric 'errors': prometheus.query: unknown placeholder {{application}}" in message
    assert "metric 'hook': webhook.url: unknown placeholder {{args.suite}}" in message
    assert "probe" not in message
    assert "args: {suite: ...}" in message
    validate_metrics(metrics[2:], args={"env": "prod"})


def test_validate_checks_condition_names_against_the_provider() -> None:
    validate_metrics([metric(provider={"http": {}}, success_condition="result > 0.9 and p99 < 1")])
    validate_metrics([metric(baseline={}, success_condition="ratio < 2 and baseline > 0")])
    with pytest.raises(SpecError, match="unknown name 'ratio'"):
        validate_metrics([metric(success_condition="ratio < 2")])
    with pytest.raises(SpecError, match="no metric"):
        validate_metrics([], analysis="empty")


TEMPLATES = {
    "errors": AnalysisTemplate.model_validate(
        {"metrics": [{"name": "error-rate", "interval": "30s", "provider": {"prometheus": {"query": "up"}}}]}
    ),
    "latency": AnalysisTemplate.model_validate(
        {
            "metrics": [
                {"name": "p99", "provider": {"prometheus": {"query": "up"}}},
                {"name": "probe", "interval": 5, "provider": {"http": {}}},
            ]
        }
    ),
}


def test_metrics_for_keeps_order_and_intervals() -> None:
    metrics = metrics_for(AnalysisRef(templates=["latency", "errors"]), TEMPLATES)
    assert [(x.name, x.interval) for x in metrics] == [("p99", 10.0), ("probe", 5.0), ("error-rate", 30.0)]


def test_ref_interval_overrides_for_background_analysis() -> None:
    metrics = metrics_for(AnalysisRef.model_validate({"templates": ["errors", "latency"], "interval": "1m"}), TEMPLATES)
    assert {x.interval for x in metrics} == {60.0}
    assert TEMPLATES["errors"].metrics[0].interval == 30.0


def test_unknown_template() -> None:
    with pytest.raises(SpecError) as info:
        metrics_for(AnalysisRef(templates=["errors", "eror-rate"]), TEMPLATES)
    assert "unknown analysis template 'eror-rate' (known: errors, latency)" in str(info.value)
