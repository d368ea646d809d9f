"""Typed ``x-escadre`` settings: what a Compose file may say to Escadre beyond the Compose Specification.

``x-escadre`` may appear on a service (``ServiceSettings``) and at the top level of the file
(``ProjectSettings``: defaults plus shared definitions such as analysis templates and notifications).
These are pydantic models because they parse untrusted input; they are frozen so the model above them
stays immutable. Unknown keys are errors (a typo in ``strategy`` must not silently mean "default").

Durations accept Compose syntax (``30s``, ``1m30s``) or a number of seconds and are stored as seconds.
The reference for every key is ``docs/x-escadre.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from escadre.core.units import parse_duration


def _duration(value: Any) -> Any:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return parse_duration(value)
    return value


Seconds = Annotated[float, BeforeValidator(_duration), Field(ge=0)]
"""A duration in seconds; accepts ``"30s"``, ``"1m30s"``, ``"500ms"`` or a number."""


class _Model(BaseModel):
    # defer_build: validators are built on first validation, so loading a Compose file without
    # x-escadre (and `escadre --help`) never pays for them
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


# ---------------------------------------------------------------------------------------------- analysis


class PrometheusProvider(_Model):
    address: str = "http://127.0.0.1:9090"
    query: str
    timeout: Seconds = 5.0
    headers: dict[str, str] = Field(default_factory=dict)


class HttpProbeProvider(_Model):
    """Escadre sends ``requests`` HTTP requests to each revision and measures success and latency."""

    path: str = "/"
    port: int | None = None
    method: Literal["GET", "HEAD", "POST"] = "GET"
    requests: int = Field(default=20, ge=1, le=10_000)
    timeout: Seconds = 2.0
    success_status: list[int] = Field(default_factory=lambda: list(range(200, 400)))
    headers: dict[str, str] = Field(default_factory=dict)


class WebhookProvider(_Model):
    """POSTs the rollout context as JSON; the answer ``{"pass": bool}`` or a numeric ``result``."""

    url: str
    timeout: Seconds = 5.0
    headers: dict[str, str] = Field(default_factory=dict)
    json_path: str | None = None


class HealthProvider(_Model):
    """Target health of the canary: restarts and failed healthchecks since it started."""

    max_restarts: int = 0


class MetricProvider(_Model):
    prometheus: PrometheusProvider | None = None
    http: HttpProbeProvider | None = None
    webhook: WebhookProvider | None = None
    health: HealthProvider | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> MetricProvider:
        chosen = [n for n in ("prometheus", "http", "webhook", "health") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("a metric provider needs exactly one of: prometheus, http, webhook, health")
        return self

    @property
    def kind(self) -> str:
        for name in ("prometheus", "http", "webhook", "health"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated provider has no kind")


class Baseline(_Model):
    """Compare the canary with the stable revision: the same measurement is taken on both and the
    condition sees ``result`` (canary), ``baseline`` (stable) and ``ratio`` (canary / baseline)."""

    max_ratio: float | None = None
    max_increase: float | None = None


class Metric(_Model):
    name: str
    provider: MetricProvider
    interval: Seconds = 10.0
    initial_delay: Seconds = 0.0
    count: int | None = Field(default=None, ge=1)
    success_condition: str | None = None
    failure_condition: str | None = None
    failure_limit: int = Field(default=0, ge=0)
    consecutive_errors: int = Field(default=4, ge=0)
    inconclusive_limit: int = Field(default=0, ge=0)
    baseline: Baseline | None = None


class AnalysisTemplate(_Model):
    metrics: list[Metric] = Field(min_length=1)


class AnalysisRef(_Model):
    templates: list[str] = Field(min_length=1)
    interval: Seconds | None = None
    args: dict[str, str] = Field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- rollout


class PauseStep(_Model):
    duration: Seconds | None = None
    """``None`` waits for ``escadre promote``."""


class Step(_Model):
    """One canary step: exactly one of the fields is set."""

    set_weight: int | None = Field(default=None, ge=0, le=100)
    pause: PauseStep | None = None
    analysis: AnalysisRef | None = None
    set_canary_scale: int | None = Field(default=None, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _pause_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pause" in data:
            pause = data["pause"]
            if pause is None or isinstance(pause, str | int | float):
                data = {**data, "pause": {"duration": pause}}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Step:
        chosen = [n for n in ("set_weight", "pause", "analysis", "set_canary_scale") if getattr(self, n) is not None]
        if len(chosen) != 1:
            raise ValueError("each step takes exactly one of: set_weight, pause, analysis, set_canary_scale")
        return self


Strategy = Literal["recreate", "rolling", "blue-green", "canary"]


class RolloutSpec(_Model):
    strategy: Strategy = "rolling"
    steps: list[Step] = Field(default_factory=list)
    analysis: AnalysisRef | None = None
    # rolling
    max_surge: int | str | None = None
    max_unavailable: int | str | None = None
    # blue-green
    preview_port: int | None = Field(default=None, ge=1, le=65535)
    auto_promote: bool = False
    auto_promote_after: Seconds | None = None
    pre_promotion_analysis: AnalysisRef | None = None
    post_promotion_analysis: AnalysisRef | None = None
    scale_down_delay: Seconds = 30.0
    # canary
    canary_replicas: int | None = Field(default=None, ge=1)
    progress_deadline: Seconds = 600.0

    @model_validator(mode="after")
    def _fit_strategy(self) -> RolloutSpec:
        if self.steps and self.strategy != "canary":
            raise ValueError(f"'steps' only applies to the canary strategy, not {self.strategy!r}")
        bg_only = ("preview_port", "pre_promotion_analysis", "post_promotion_analysis", "auto_promote_after")
        if self.strategy != "blue-green":
            used = [n for n in bg_only if getattr(self, n) is not None]
            if used:
                raise ValueError(f"{', '.join(used)} only applies to the blue-green strategy")
        return self


class AutoscaleSpec(_Model):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    cpu: int | None = Field(default=None, ge=1, le=1000, description="target average CPU, percent")
    memory: int | None = Field(default=None, ge=1, le=1000, description="target average memory, percent")
    scale_down_stabilization: Seconds = 300.0

    @model_validator(mode="after")
    def _bounds(self) -> AutoscaleSpec:
        if self.max_replicas < self.min_replicas:
            raise ValueError("max_replicas must be at least min_replicas")
        if self.cpu is None and self.memory is None:
            raise ValueError("autoscale needs a cpu or memory target (percent)")
        return self


# ------------------------------------------------------------------------------------------------ policy

Severity = Literal["info", "low", "medium", "high", "critical"]


class Waiver(_Model):
    rule: str
    reason: str = Field(min_length=1)
    scope: str | None = None
    """A service name, or ``*``/absent for every object."""
    expires: dt.date | None = None


class PolicySettings(_Model):
    fail_on: Severity | None = None
    packs: list[str] = Field(default_factory=list)
    waivers: list[Waiver] = Field(default_factory=list)
    baseline: str | None = None


# ------------------------------------------------------------------------------------ routing & webhooks


class RouteSpec(_Model):
    """Put Escadre's router in front of the service: the published port stays on the router while
    revisions change behind it. Implied by the canary and blue-green strategies."""

    enabled: bool = True
    port: int | None = Field(default=None, ge=1, le=65535)
    """Container port to route to (default: the first published port's target)."""


class RouterSettings(_Model):
    """Escadre's router (HAProxy) on Docker targets."""

    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    """Publish the router's Prometheus exporter on this host port (127.0.0.1) for analysis queries."""
    slots: int = Field(default=16, ge=1, le=256)
    """Most instances of one revision the router can hold."""


class Notification(_Model):
    url: str
    format: Literal["json", "slack"] = "json"
    events: list[str] = Field(default_factory=lambda: ["rollout.*"])
    headers: dict[str, str] = Field(default_factory=dict)


# ------------------------------------------------------------------------------------------- top models


class ServiceSettings(_Model):
    """Per-service ``x-escadre``."""

    rollout: RolloutSpec | None = None
    autoscale: AutoscaleSpec | None = None
    policy: PolicySettings | None = None
    route: RouteSpec | None = None


class ProjectSettings(_Model):
    rollout: RolloutSpec | None = None
    """The default rollout for services that do not set their own."""
    analysis_templates: dict[str, AnalysisTemplate] = Field(default_factory=dict)
    policy: PolicySettings | None = None
    notifications: list[Notification] = Field(default_factory=list)
    router: RouterSettings | None = None

    def rollout_for(self, service: ServiceSettings) -> RolloutSpec:
        return service.rollout or self.rollout or RolloutSpec()
