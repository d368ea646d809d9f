"""``x-escadre.autoscale`` → a HorizontalPodAutoscaler (autoscaling/v2).

CPU and memory targets are average *utilisation* percentages, which Kubernetes computes against the
container's **requests**: without a request (``deploy.resources.reservations``, or limits, which become
requests when no request is given) the HPA cannot compute anything, so that is noted.
``scale_down_stabilization`` is the scale-down stabilization window.

The HPA targets the service's workload: ``web`` in rendered manifests, and in the live driver the
Deployment of the *stable* revision (the driver re-points it when a rollout promotes a revision).
"""

from __future__ import annotations

from escadre.drivers.kubernetes.translate.common import Ctx, Manifest, seconds, service_name
from escadre.model.project import Service


def autoscaler(ctx: Ctx, svc: Service, target_kind: str, target_name: str) -> Manifest | None:
    settings = svc.settings.autoscale if svc.settings is not None else None
    if settings is None:
        return None
    path = f"services.{svc.name}.x-escadre.autoscale"
    limits, reservations = svc.deploy.limits, svc.deploy.reservations
    metrics = []
    for resource, target, requested in (
        ("cpu", settings.cpu, reservations.cpus or limits.cpus),
        ("memory", settings.memory, reservations.memory or limits.memory),
    ):
        if target is None:
            continue
        if not requested:
            ctx.note(
                path,
                f"{resource} utilisation is relative to the container's {resource} request: set "
                f"deploy.resources.reservations or limits for {svc.name}, or the HPA cannot compute it",
            )
        metrics.append(
            {
                "type": "Resource",
                "resource": {"name": resource, "target": {"type": "Utilization", "averageUtilization": target}},
            }
        )
    if target_kind not in ("Deployment", "StatefulSet"):
        raise ctx.fail(
            svc, f"service {svc.name!r}: x-escadre.autoscale needs a replicated service, not a {target_kind}"
        )
    spec: Manifest = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": target_kind, "name": target_name},
        "minReplicas": max(settings.min_replicas, 1),
        "maxReplicas": settings.max_replicas,
        "metrics": metrics,
        "behavior": {"scaleDown": {"stabilizationWindowSeconds": seconds(settings.scale_down_stabilization, 0)}},
    }
    if settings.min_replicas == 0:
        ctx.note(path, "min_replicas 0 needs the HPAScaleToZero feature gate: 1 is used")
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": ctx.meta(service_name(svc.name), path=path, service=svc.name),
        "spec": spec,
    }
