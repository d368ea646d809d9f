from __future__ import annotations

import pytest
from pydantic import ValidationError

from escadre.model.settings import AutoscaleSpec, ProjectSettings, RolloutSpec, ServiceSettings, Step


def test_canary_rollout_parses_durations_and_pause_shorthand() -> None:
    spec = RolloutSpec.model_validate(
        {
            "strategy": "canary",
            "steps": [{"set_weight": 10}, {"pause": "30s"}, {"analysis": {"templates": ["error-rate"]}}, {"pause": {}}],
            "analysis": {"templates": ["error-rate"], "interval": "10s"},
        }
    )
    assert spec.steps[1].pause is not None and spec.steps[1].pause.duration == 30.0
    assert spec.steps[3].pause is not None and spec.steps[3].pause.duration is None
    assert spec.analysis is not None and spec.analysis.interval == 10.0


def test_unknown_keys_and_bad_strategies_are_errors() -> None:
    with pytest.raises(ValidationError):
        RolloutSpec.model_validate({"strategy": "canery"})
    with pytest.raises(ValidationError):
        RolloutSpec.model_validate({"strategy": "canary", "stepz": []})
    with pytest.raises(ValidationError, match="only applies to the canary"):
        RolloutSpec.model_validate({"strategy": "rolling", "steps": [{"set_weight": 5}]})
    with pytest.raises(ValidationError, match="blue-green"):
        RolloutSpec.model_validate({"strategy": "canary", "preview_port": 8081})


def test_step_needs_exactly_one_action() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Step.model_validate({"set_weight": 10, "pause": "1s"})
    with pytest.raises(ValidationError):
        Step.model_validate({"set_weight": 101})


def test_autoscale_bounds() -> None:
    with pytest.raises(ValidationError, match="max_replicas"):
        AutoscaleSpec.model_validate({"min_replicas": 5, "max_replicas": 2, "cpu": 50})
    with pytest.raises(ValidationError, match="target"):
        AutoscaleSpec.model_validate({"max_replicas": 2})


def test_project_default_rollout_applies_when_service_has_none() -> None:
    project = ProjectSettings.model_validate({"rollout": {"strategy": "blue-green", "preview_port": 9000}})
    assert project.rollout_for(ServiceSettings()).strategy == "blue-green"
    own = ServiceSettings.model_validate({"rollout": {"strategy": "recreate"}})
    assert project.rollout_for(own).strategy == "recreate"
    assert ProjectSettings().rollout_for(ServiceSettings()).strategy == "rolling"


def test_metric_provider_needs_exactly_one() -> None:
    from escadre.model.settings import MetricProvider

    with pytest.raises(ValidationError, match="exactly one"):
        MetricProvider.model_validate({})
    assert MetricProvider.model_validate({"prometheus": {"query": "up"}}).kind == "prometheus"
