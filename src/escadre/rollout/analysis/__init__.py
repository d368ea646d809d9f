"""Analysis: decide from metrics whether a new revision may go on, must roll back, or needs a human.

Escadre's equivalent of Argo Rollouts' AnalysisTemplates/AnalysisRuns and Flagger's metric checks. A
rollout step (or a background analysis, or a blue-green pre/post-promotion check) names templates from
``x-escadre: analysis_templates``; their metrics are measured against the canary — and in baseline mode
against the stable revision too — by providers (Prometheus queries, a built-in HTTP probe, webhooks,
the target's own health), judged by small safe conditions (``escadre.rollout.conditions``) and combined
into one verdict: successful, failed/error (roll back) or inconclusive (pause for a human).

The one rule that matters most: *no data is never a verdict*. An empty Prometheus answer, a probe with
nothing to probe, a webhook that cannot tell — all are inconclusive and pause the rollout.

Modules: ``model`` (values and the ``Provider`` seam), ``templating`` (``{{placeholders}}``), ``judge``
(conditions → phase), ``templates`` (refs → metrics, checked up front), ``run`` (the scheduler),
``providers`` (one module per provider), ``testing`` (fake clock and scripted provider).
"""

from __future__ import annotations

from escadre.rollout.analysis.model import (
    AnalysisResult,
    MeasureContext,
    Measurement,
    MeasurementError,
    MeasurementPhase,
    MetricSummary,
    Phase,
    Provider,
    Reading,
    Role,
    Target,
)
from escadre.rollout.analysis.run import AnalysisRun
from escadre.rollout.analysis.templates import metrics_for, validate_metrics

__all__ = [
    "AnalysisResult",
    "AnalysisRun",
    "MeasureContext",
    "Measurement",
    "MeasurementError",
    "MeasurementPhase",
    "MetricSummary",
    "Phase",
    "Provider",
    "Reading",
    "Role",
    "Target",
    "metrics_for",
    "validate_metrics",
]
