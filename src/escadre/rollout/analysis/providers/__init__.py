"""The built-in metric providers, one module each, behind the one-method ``Provider`` seam.

``default_providers()`` maps every ``MetricProvider`` kind to a fresh instance; an ``AnalysisRun`` uses
it unless given its own mapping (tests pass ``escadre.rollout.analysis.testing.ScriptedProvider``).
"""

from __future__ import annotations

from escadre.rollout.analysis.model import Provider
from escadre.rollout.analysis.providers.health import Health
from escadre.rollout.analysis.providers.http_probe import HttpProbe
from escadre.rollout.analysis.providers.prometheus import Prometheus
from escadre.rollout.analysis.providers.webhook import Webhook

KINDS = ("prometheus", "http", "webhook", "health")


def default_providers() -> dict[str, Provider]:
    return {"prometheus": Prometheus(), "http": HttpProbe(), "webhook": Webhook(), "health": Health()}


__all__ = ["KINDS", "Health", "HttpProbe", "Prometheus", "Webhook", "default_providers"]
