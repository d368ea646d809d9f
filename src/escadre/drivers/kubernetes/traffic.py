"""Traffic during rollouts: which objects carry a ``TrafficPlan`` in each traffic mode (pure functions).

Every revision is its own workload, so the split is between *Services*: ``<service>`` selects the stable
revision, ``<service>-canary`` the canary and ``<service>-preview`` the blue-green preview. Then, per the
target's ``traffic`` mode:

* ``gateway`` — the service's HTTPRoute has two ``backendRefs`` weighted ``100 - w`` / ``w`` (Gateway API
  standard channel, any conformant implementation);
* ``ingress-nginx`` — a second Ingress ``<service>-canary`` with the ``nginx.ingress.kubernetes.io/canary``
  and ``canary-weight`` annotations (ingress-nginx's own canary mechanism);
* ``replicas`` — nothing here: ``<service>`` selects every revision and the rollout engine sizes the
  revisions so the ratio of ready pods is the weight (the driver's ``route`` returns ``False``).

The autoscaler follows the stable revision (``autoscaler_for``): it targets that revision's Deployment,
so a canary is never scaled by it, and a promotion moves it.
"""

from __future__ import annotations

from typing import Literal

from escadre.drivers.base import TrafficPlan
from escadre.drivers.kubernetes.translate.autoscale import autoscaler
from escadre.drivers.kubernetes.translate.common import ROLE, Ctx, Manifest, service_name, workload_name
from escadre.drivers.kubernetes.translate.services import http_route, ingress, service
from escadre.drivers.kubernetes.translate.workloads import workload_kind
from escadre.model.project import Service

Mode = Literal["gateway", "ingress-nginx", "replicas"]
MODES: tuple[str, ...] = ("auto", "gateway", "ingress-nginx", "replicas")
CANARY_ANNOTATION = "nginx.ingress.kubernetes.io/canary"
WEIGHT_ANNOTATION = "nginx.ingress.kubernetes.io/canary-weight"


def canary_name(svc: Service) -> str:
    return f"{service_name(svc.name, limit=56)}-canary"


def preview_name(svc: Service) -> str:
    return f"{service_name(svc.name, limit=55)}-preview"


def traffic_objects(
    ctx: Ctx, svc: Service, plan: TrafficPlan, mode: Mode
) -> tuple[list[Manifest], list[tuple[str, str]]]:
    """(objects to apply, (kind, name) to delete) so that traffic follows ``plan``."""
    stable = plan.stable or plan.canary
    canary = plan.canary if plan.canary and plan.canary != stable else None
    weight = plan.canary_weight if canary else 0
    apply: list[Manifest] = [service(ctx, svc, revision=stable, role="stable")]
    delete: list[tuple[str, str]] = []
    if canary:
        apply.append(service(ctx, svc, name=canary_name(svc), role="canary", revision=canary, external=False))
    else:
        delete.append(("Service", canary_name(svc)))
    if plan.preview:
        apply.append(service(ctx, svc, name=preview_name(svc), role="preview", revision=plan.preview, external=False))
    else:
        delete.append(("Service", preview_name(svc)))
    if mode == "gateway":
        backends = [(service_name(svc.name), 100 - weight)]
        if weight:  # a 0-weight backend would only be noise (and outlive the canary after an abort)
            backends.append((canary_name(svc), weight))
        route = http_route(ctx, svc, backends)
        if route is not None:
            route["metadata"]["annotations"][ROLE] = "traffic"
            apply.append(route)
    elif mode == "ingress-nginx":
        main = ingress(ctx, svc)
        if main is not None:
            main["metadata"]["annotations"][ROLE] = "traffic"
            apply.append(main)
            if weight:
                split = ingress(
                    ctx,
                    svc,
                    name=canary_name(svc),
                    backend=canary_name(svc),
                    annotations={CANARY_ANNOTATION: "true", WEIGHT_ANNOTATION: str(weight), ROLE: "canary"},
                )
                assert split is not None
                apply.append(split)
            else:
                delete.append(("Ingress", canary_name(svc)))
    return apply, delete


def autoscaler_for(ctx: Ctx, svc: Service, plan: TrafficPlan) -> Manifest | None:
    """The service's HPA, aimed at the stable revision's workload (``None`` without autoscale)."""
    revision = plan.stable or plan.canary
    if revision is None:
        return None
    kind = workload_kind(ctx, svc)
    name = workload_name(svc.name, revision if kind != "StatefulSet" else None)
    hpa = autoscaler(ctx, svc, kind, name)
    if hpa is not None:
        hpa["metadata"]["annotations"][ROLE] = "traffic"
    return hpa
