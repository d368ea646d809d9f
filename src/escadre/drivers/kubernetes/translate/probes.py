"""Compose ``healthcheck`` → readiness, startup and liveness probes.

Docker and Kubernetes do different things with a failing check: Docker only *reports* the container
unhealthy (``depends_on: service_healthy`` and Escadre's rollouts read that); Kubernetes takes a not-ready
pod out of its Services and *restarts* a container whose liveness probe fails. The mapping keeps Docker's
timing for what Docker does and adds a margin for what only Kubernetes does:

* **readiness** = the healthcheck as Docker runs it: ``periodSeconds = interval``, ``timeoutSeconds =
  timeout``, ``failureThreshold = retries``, one success to be ready. Ready ⇔ Docker's "healthy".
* **startup** (while it fails, the other probes wait): checked every ``start_interval`` (else
  ``min(interval, 5s)`` so a fast start is seen quickly) for ``start_period + retries × interval`` — the
  moment Docker would first call the container unhealthy — and at least 30 s. Only then may liveness kill.
* **liveness** = the same test with ``failureThreshold = 2 × retries`` (at least 3): a container is
  restarted only after it has been out of the Services (not ready) for as long again, so an overloaded
  or briefly blocked service sheds traffic long before it is killed, and a dependency outage (a check that
  fails because the database is down) does not make every client restart in a loop at once.

Probe fields are whole seconds, so sub-second Compose durations round up to 1 s (noted). One-shot
services (Jobs) get no probes: nothing routes to them.
"""

from __future__ import annotations

import math
from typing import Any

from escadre.drivers.kubernetes.translate.common import Ctx, Manifest, seconds
from escadre.model.project import Healthcheck, Service

MIN_STARTUP_BUDGET = 30.0
"""Seconds a container always gets before the first liveness verdict."""


def _action(test: tuple[str, ...]) -> Manifest | None:
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return {"exec": {"command": list(test[1:])}}
    if test[0] == "CMD-SHELL":
        return {"exec": {"command": ["/bin/sh", "-c", " ".join(test[1:])]}}
    return {"exec": {"command": list(test)}}


def probes(ctx: Ctx, svc: Service) -> dict[str, Any]:
    """``readinessProbe``, ``startupProbe`` and ``livenessProbe`` for the service's container (or none)."""
    hc: Healthcheck | None = svc.healthcheck
    if hc is None or hc.disabled:
        return {}
    action = _action(hc.test)
    if action is None:
        return {}
    path = f"services.{svc.name}.healthcheck"
    for field, value in (("interval", hc.interval), ("timeout", hc.timeout), ("start_interval", hc.start_interval)):
        if value is not None and 0 < value < 1:
            ctx.note(f"{path}.{field}", f"{value:g}s rounds up to 1s (Kubernetes probes count whole seconds)")
    interval = seconds(hc.interval)
    timeout = seconds(hc.timeout)
    retries = max(hc.retries, 1)
    readiness = {**action, "periodSeconds": interval, "timeoutSeconds": timeout, "failureThreshold": retries}
    readiness["successThreshold"] = 1
    start_every = seconds(hc.start_interval) if hc.start_interval else min(interval, 5)
    budget = max(hc.start_period + retries * hc.interval, MIN_STARTUP_BUDGET)
    startup = {
        **action,
        "periodSeconds": start_every,
        "timeoutSeconds": timeout,
        "failureThreshold": max(math.ceil(budget / start_every), 1),
    }
    liveness = {**action, "periodSeconds": interval, "timeoutSeconds": timeout, "failureThreshold": max(2 * retries, 3)}
    return {"readinessProbe": readiness, "startupProbe": startup, "livenessProbe": liveness}
