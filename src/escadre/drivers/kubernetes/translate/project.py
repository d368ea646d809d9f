"""The whole project → every object, and the per-service pieces the live driver applies one at a time.

``translate`` is what ``render`` prints. The live driver calls ``shared_objects`` from ``ensure_shared``
(namespace, network policies, config maps, claims, Services, budgets, Ingresses), ``workload_objects``
from ``apply_revision``, and ``traffic.py`` builds the rollout objects (canary Services, weights, HPA) from
``services.py`` and ``autoscale.py``. A revision's id is computed here exactly as ``escadre up`` computes
it, so the ``escadre.revision`` label of a rendered workload is the revision ``up`` would deploy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from escadre.drivers.kubernetes.translate.autoscale import autoscaler
from escadre.drivers.kubernetes.translate.common import (
    Ctx,
    Manifest,
    Note,
    Options,
    SecretSource,
    check_label_value,
    service_name,
    sort_key,
    workload_name,
)
from escadre.drivers.kubernetes.translate.config import config_maps, secret_sources
from escadre.drivers.kubernetes.translate.network import network_policies, public_policy
from escadre.drivers.kubernetes.translate.services import (
    container_ports,
    exposed_port,
    headless,
    http_route,
    ingress,
    is_public,
    k8s_settings,
    service,
)
from escadre.drivers.kubernetes.translate.storage import claims
from escadre.drivers.kubernetes.translate.workloads import disruption_budget, workload, workload_kind
from escadre.model.project import FileSource, Project, Service
from escadre.model.revision import Revision, make_revision


@dataclass(frozen=True, slots=True)
class Translation:
    objects: list[Manifest]
    notes: list[Note] = field(default_factory=list)
    secrets: list[SecretSource] = field(default_factory=list)
    """Secrets the manifests reference and Escadre would create (render prints how to create them)."""


def build_only(svc: Service) -> bool:
    """``build:`` without ``image:`` (the loader names such images ``<project>-<service>``, a name no
    registry holds)."""
    return not svc.image or (svc.build is not None and "image" not in svc.spec)


def image_of(ctx: Ctx, svc: Service) -> str:
    if build_only(svc) or not svc.image:
        raise ctx.fail(
            svc,
            f"service {svc.name!r} has build: but no image:, and a cluster cannot use an image built here",
            hint=f"push the image to a registry the cluster can pull from and set services.{svc.name}.image",
        )
    if svc.build is not None:
        ctx.note(f"services.{svc.name}.build", f"not built: the cluster pulls {svc.image} (push it first)")
    return svc.image


def image_id(ref: str) -> str:
    """What identifies an image on a cluster: the digest pinned in the reference (``nginx@sha256:…``),
    else the reference itself — nothing is built, and the nodes pull exactly what it names."""
    _, at, digest = ref.partition("@")
    return digest if at and digest.startswith("sha256:") else ref


def _content_digest(ctx: Ctx, source: FileSource, kind: str) -> str:
    from escadre.drivers.kubernetes.translate.config import read_content

    if source.external:
        return f"external:{source.name}"
    return hashlib.sha256(read_content(ctx, source, kind)).hexdigest()


def revision_of(ctx: Ctx, svc: Service) -> Revision:
    """The revision ``escadre up`` would deploy for ``svc`` on this target (see ``operations.plan``)."""
    image = image_of(ctx, svc)
    digests = {
        f"secret:{m.source}": _content_digest(ctx, ctx.project.secrets[m.source], "secret")
        for m in svc.secrets
        if m.source in ctx.project.secrets
    }
    digests.update(
        {
            f"config:{m.source}": _content_digest(ctx, ctx.project.configs[m.source], "config")
            for m in svc.configs
            if m.source in ctx.project.configs
        }
    )
    return make_revision(svc, image=image, image_id=image_id(image), content_digests=digests)


def check_names(ctx: Ctx) -> None:
    """Distinct Compose names must stay distinct after Kubernetes' naming rules."""
    check_label_value(ctx, None, "project name", ctx.app)
    seen: dict[str, str] = {}
    for name, svc in ctx.project.services.items():
        check_label_value(ctx, svc, "service name", name)
        k8s = service_name(name)
        if k8s in seen:
            raise ctx.fail(
                svc,
                f"services {seen[k8s]!r} and {name!r} would both be named {k8s!r} in Kubernetes",
                hint="rename one of them",
            )
        seen[k8s] = name


def namespace_object(ctx: Ctx) -> Manifest:
    meta = ctx.meta(ctx.options.namespace, path="name", namespaced=False)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def service_objects(ctx: Ctx, svc: Service) -> list[Manifest]:
    """Objects of one service that do not depend on its revision: Service(s), public network policy,
    disruption budget, Ingress and HTTPRoute (render mode: also the autoscaler)."""
    out = [service(ctx, svc)]
    kind = workload_kind(ctx, svc)
    if kind == "StatefulSet":
        out.append(headless(ctx, svc))
    if is_public(ctx, svc) and svc.network_mode is None:
        ports = [(p, proto) for p, proto in container_ports(ctx, svc)]
        settings = k8s_settings(svc)
        if settings.service_type == "ClusterIP" and not svc.published_ports and settings.expose is not None:
            ports = [(exposed_port(ctx, svc, settings.expose), "TCP")]
        if ports:
            out.append(public_policy(ctx, svc, ports))
    budget = disruption_budget(ctx, svc)
    if budget is not None:
        out.append(budget)
    if not ctx.options.live:
        hpa = autoscaler(ctx, svc, kind, workload_name(svc.name, None))
        if hpa is not None:
            out.append(hpa)
        for obj in (ingress(ctx, svc), http_route(ctx, svc)):
            if obj is not None:
                out.append(obj)
    return out


def shared_objects(ctx: Ctx) -> list[Manifest]:
    """Network policies, config maps and claims of the whole project (no Namespace, no Secrets)."""
    return [*network_policies(ctx), *config_maps(ctx), *claims(ctx)]


def workload_objects(ctx: Ctx, svc: Service, revision: Revision, replicas: int | None = None) -> list[Manifest]:
    return [workload(ctx, svc, image=revision.image, revision=revision.id, replicas=replicas)]


def translate(project: Project, options: Options) -> Translation:
    """Every object of the project, in apply order (render mode unless ``options.live``)."""
    ctx = Ctx(project, options)
    check_names(ctx)
    objects: list[Manifest] = [namespace_object(ctx), *shared_objects(ctx)]
    for name in sorted(project.services):
        svc = project.services[name]
        objects.extend(service_objects(ctx, svc))
        objects.extend(workload_objects(ctx, svc, revision_of(ctx, svc)))
    objects.sort(key=sort_key)
    return Translation(objects, list(ctx.notes), secret_sources(ctx))
