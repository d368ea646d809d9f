"""Which workload runs a service, and its PodDisruptionBudget.

* **Job** when the service is one-shot: ``restart: "no"`` / ``on-failure[:N]`` (or
  ``deploy.restart_policy.condition: none | on-failure``). A Deployment restarts a container that exits,
  even with code 0, so a migration would run forever; a Job runs it to completion (``backoffLimit`` from
  ``on-failure:N``/``max_attempts``, 0 for ``"no"``). A service without ``restart:`` is long-running (a
  Deployment), as Kompose and every Kubernetes user expect — noted in the docs, since Compose's default
  is ``"no"``.
* **DaemonSet** for ``deploy.mode: global`` (one per node: Swarm's meaning exactly).
* **StatefulSet** when the service asks for it (``x-kubernetes.workload: statefulset``) *and* owns a named
  volume: each replica gets its own claim from ``volumeClaimTemplates`` and a stable name behind a headless
  Service. Asking without a named volume is an error (there would be nothing stateful about it).
* **Deployment** otherwise.

In render mode the workload is named after the service and updated in place (``deploy.update_config`` and
``x-escadre.rollout.max_surge``/``max_unavailable`` shape its RollingUpdate). In live mode there is one
workload per revision, selected by ``escadre.revision``; Escadre's rollout engine moves between them.
"""

from __future__ import annotations

from typing import Any

from escadre.drivers.kubernetes.translate.common import (
    REPLICAS,
    Ctx,
    Manifest,
    Workload,
    annotations_from,
    seconds,
    service_name,
    workload_name,
)
from escadre.drivers.kubernetes.translate.pods import pod_template
from escadre.drivers.kubernetes.translate.services import headless_name, k8s_settings
from escadre.drivers.kubernetes.translate.storage import claim_templates
from escadre.model.project import Service, UpdateConfig

API_VERSION = {"Deployment": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1", "Job": "batch/v1"}


def one_shot(svc: Service) -> bool:
    policy = svc.deploy.restart_policy
    if policy is not None:
        return policy.condition in ("none", "on-failure")
    restart = svc.restart or ""
    return restart == "no" or restart.startswith("on-failure")


def workload_kind(ctx: Ctx, svc: Service) -> Workload:
    asked = k8s_settings(svc).workload
    if one_shot(svc):
        if asked not in (None,):
            raise ctx.fail(svc, f"service {svc.name!r} is one-shot (restart: {svc.restart!r}) and cannot be a {asked}")
        return "Job"
    if svc.deploy.mode == "global" or asked == "daemonset":
        return "DaemonSet"
    if asked == "statefulset":
        owned = [
            m for m in svc.mounts if m.type == "volume" and m.source and not ctx.project.volumes[m.source].external
        ]
        if not owned:
            raise ctx.fail(
                svc,
                f"service {svc.name!r} asks for a statefulset but mounts no named volume of its own",
                hint="mount a named volume (volumes: [data:/var/lib/data]) or drop x-kubernetes.workload",
            )
        strategy = ctx.project.rollout_for(svc.name).strategy
        if strategy in ("canary", "blue-green"):
            raise ctx.fail(
                svc,
                f"service {svc.name!r} is a statefulset and cannot run the {strategy} strategy: two revisions "
                "cannot own the same per-replica volumes",
                hint="use strategy rolling or recreate",
            )
        return "StatefulSet"
    return "Deployment"


def _backoff(svc: Service) -> int:
    policy = svc.deploy.restart_policy
    if policy is not None:
        if policy.condition == "none":
            return 0
        return policy.max_attempts if policy.max_attempts is not None else 6
    restart = svc.restart or ""
    if restart.startswith("on-failure:"):
        return int(restart.split(":", 1)[1] or 6)
    return 0 if restart == "no" else 6


def _rolling(ctx: Ctx, svc: Service) -> Manifest:
    """RollingUpdate parameters from x-escadre.rollout (first) or deploy.update_config."""
    spec = ctx.project.rollout_for(svc.name)
    path = f"services.{svc.name}"
    if spec.strategy == "recreate":
        return {"type": "Recreate"}
    # Compose's default update is Escadre's: stop-first, one at a time (so a single-replica service with a
    # ReadWriteOnce volume never has two pods on it); parallelism 0 means all at once
    update = svc.deploy.update_config or UpdateConfig()
    batch: int | str = update.parallelism or "100%"
    if update.order == "start-first":
        rolling: dict[str, Any] = {"maxSurge": batch, "maxUnavailable": 0}
    else:
        rolling = {"maxSurge": 0, "maxUnavailable": batch}
    if svc.deploy.update_config is not None and (update.failure_action != "pause" or update.max_failure_ratio):
        ctx.note(
            f"{path}.deploy.update_config",
            "failure_action and max_failure_ratio: a stuck rollout stops at progressDeadlineSeconds "
            "(escadre's rollouts abort back to stable)",
        )
    if spec.max_surge is not None:
        rolling["maxSurge"] = spec.max_surge
    if spec.max_unavailable is not None:
        rolling["maxUnavailable"] = spec.max_unavailable
    if rolling["maxSurge"] in (0, "0%") and rolling["maxUnavailable"] in (0, "0%"):
        raise ctx.fail(svc, f"service {svc.name!r}: max_surge and max_unavailable cannot both be 0")
    if spec.strategy in ("canary", "blue-green") and not ctx.options.live:
        ctx.note(
            f"{path}.x-escadre.rollout",
            f"{spec.strategy} is run by escadre up; with kubectl apply the Deployment does a rolling update",
        )
    return {"type": "RollingUpdate", "rollingUpdate": rolling}


def workload(ctx: Ctx, svc: Service, *, image: str, revision: str | None, replicas: int | None = None) -> Manifest:
    """The service's workload. ``revision`` is always labelled; in live mode it also names and selects."""
    kind = workload_kind(ctx, svc)
    live = ctx.options.live
    # a StatefulSet owns per-replica volumes, so even a live target updates it in place (one per service)
    per_revision = live and revision is not None and kind != "StatefulSet"
    name = workload_name(svc.name, revision if per_revision else None)
    selector = {"escadre.app": ctx.app, "escadre.service": svc.name}
    if per_revision and revision is not None:
        selector["escadre.revision"] = revision
    pod_labels = ctx.labels(svc.name, revision)
    template = pod_template(ctx, svc, kind=kind, image=image, labels=pod_labels)
    path = f"services.{svc.name}"
    meta = ctx.meta(name, path=path, service=svc.name, revision=revision)
    meta["annotations"].update(annotations_from(ctx, f"{path}.deploy.labels", svc.deploy.labels))
    count = svc.replicas if replicas is None else replicas
    autoscaled = svc.settings is not None and svc.settings.autoscale is not None
    if live:
        meta["annotations"][REPLICAS] = str(count)
    spec: dict[str, Any] = {}
    if kind == "Job":
        spec = {"completions": count, "parallelism": count, "backoffLimit": _backoff(svc), "template": template}
    elif kind == "DaemonSet":
        spec = {"selector": {"matchLabels": selector}, "template": template}
        update = svc.deploy.update_config
        if update is not None and update.parallelism:
            spec["updateStrategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": update.parallelism}}
        if svc.replicas != 1:
            ctx.note(f"{path}.deploy.replicas", "global mode runs one pod per node; replicas does not apply")
    else:
        if live or not autoscaled:
            spec["replicas"] = count
        spec["selector"] = {"matchLabels": selector}
        if kind == "StatefulSet":
            spec["serviceName"] = headless_name(svc)
            spec["podManagementPolicy"] = "Parallel"
            spec["template"] = template
            spec["volumeClaimTemplates"] = claim_templates(ctx, svc)
        else:
            spec["strategy"] = _rolling(ctx, svc)
            spec["template"] = template
            rollout = ctx.project.rollout_for(svc.name)
            spec["progressDeadlineSeconds"] = seconds(rollout.progress_deadline)
            update = svc.deploy.update_config
            if update is not None and update.monitor:
                spec["minReadySeconds"] = seconds(update.monitor, 0)
    if svc.deploy.rollback_config is not None:
        ctx.note(
            f"{path}.deploy.rollback_config",
            "a failed escadre rollout goes back to stable by its abort procedure; kubectl rollout undo otherwise",
        )
    return {"apiVersion": API_VERSION[kind], "kind": kind, "metadata": meta, "spec": spec}


def disruption_budget(ctx: Ctx, svc: Service) -> Manifest | None:
    """``maxUnavailable: 1`` for services that run several replicas (or may, under an autoscaler):
    voluntary disruptions (node drains) take one pod at a time, whatever the count, and never block a
    drain for good the way ``minAvailable: N`` can."""
    kind = workload_kind(ctx, svc)
    if kind not in ("Deployment", "StatefulSet"):
        return None
    autoscale = svc.settings.autoscale if svc.settings is not None else None
    most = max(svc.replicas, autoscale.max_replicas if autoscale is not None else 0)
    if most < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": ctx.meta(service_name(svc.name), path=f"services.{svc.name}.deploy.replicas", service=svc.name),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"escadre.app": ctx.app, "escadre.service": svc.name}},
        },
    }
