"""Compose volumes → PersistentVolumeClaims and pod volumes.

* a named volume is a PVC (``x-kubernetes: {size, storage_class, access_mode}`` on the top-level volume;
  1 Gi, the cluster's default class and ReadWriteOnce otherwise). ``external: true`` references an existing
  claim by ``name``. A ``statefulset`` service's named volumes become ``volumeClaimTemplates`` instead:
  one claim per replica, so they cannot be shared with another service.
* an anonymous volume is an ``emptyDir`` (it lives as long as the pod, as an anonymous volume lives as
  long as its container);
* ``tmpfs`` is an ``emptyDir`` in memory with the size limit;
* a bind mount is a ``hostPath``: the path must exist *on the node* — noted, because a project-relative
  path on the machine running Escadre means nothing there.
"""

from __future__ import annotations

from typing import Any

from escadre.drivers.kubernetes.translate.common import (
    COMPOSE_NAME,
    Ctx,
    Manifest,
    annotations_from,
    dns_label,
    quantity_bytes,
)
from escadre.drivers.kubernetes.translate.settings import volume_settings
from escadre.model.project import Mount, Service, Volume

PROPAGATION = {
    "rprivate": None,
    "private": None,
    "rslave": "HostToContainer",
    "slave": "HostToContainer",
    "rshared": "Bidirectional",
    "shared": "Bidirectional",
}


def claim_name(volume: Volume) -> str:
    return volume.name if volume.external else dns_label(volume.name, limit=253)


def claim_spec(ctx: Ctx, volume: Volume) -> Manifest:
    settings = volume_settings(ctx.project.spec.get("volumes", {}).get(volume.key), volume.key)
    spec: Manifest = {"accessModes": [settings.access_mode], "resources": {"requests": {"storage": settings.size}}}
    if settings.storage_class:
        spec["storageClassName"] = settings.storage_class
    if volume.driver or volume.driver_opts:
        ctx.note(
            f"volumes.{volume.key}",
            "driver and driver_opts do not apply: the claim uses a StorageClass (x-kubernetes.storage_class)",
        )
    return spec


def stateful_volumes(ctx: Ctx) -> dict[str, str]:
    """Named volumes owned by a statefulset service: volume key → service name."""
    from escadre.drivers.kubernetes.translate.workloads import workload_kind

    owners: dict[str, str] = {}
    for svc in ctx.project.services.values():
        if workload_kind(ctx, svc) != "StatefulSet":
            continue
        for m in svc.mounts:
            if m.type == "volume" and m.source and not ctx.project.volumes[m.source].external:
                owners[m.source] = svc.name
    for svc in ctx.project.services.values():
        for m in svc.mounts:
            owner = owners.get(m.source or "")
            if m.type == "volume" and owner is not None and owner != svc.name:
                raise ctx.fail(
                    svc,
                    f"volume {m.source!r} is per-replica storage of statefulset service {owner!r} "
                    f"and cannot also be mounted by {svc.name!r}",
                    hint="give each service its own volume, or make the owner a deployment",
                )
    return owners


def claims(ctx: Ctx) -> list[Manifest]:
    """A PVC for every named volume Escadre creates (not external, not per-replica)."""
    owned = stateful_volumes(ctx)
    out = []
    for key, volume in sorted(ctx.project.volumes.items()):
        if volume.external or key in owned:
            continue
        meta = ctx.meta(
            claim_name(volume), path=f"volumes.{key}", component=key, annotations={COMPOSE_NAME: volume.name}
        )
        meta["annotations"].update(annotations_from(ctx, f"volumes.{key}.labels", volume.labels))
        out.append(
            {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta, "spec": claim_spec(ctx, volume)}
        )
    return out


def claim_templates(ctx: Ctx, svc: Service) -> list[Manifest]:
    templates: dict[str, Manifest] = {}
    for m in svc.mounts:
        if m.type == "volume" and m.source and not ctx.project.volumes[m.source].external:
            name = dns_label(m.source)
            spec = claim_spec(ctx, ctx.project.volumes[m.source])
            templates.setdefault(name, {"metadata": {"name": name, "labels": ctx.labels(svc.name)}, "spec": spec})
    return list(templates.values())


def mount_volumes(ctx: Ctx, svc: Service, *, stateful: bool) -> tuple[list[Manifest], list[Manifest]]:
    """Pod ``volumes`` and container ``volumeMounts`` for the service's mounts."""
    path = f"services.{svc.name}.volumes"
    volumes: dict[str, Manifest] = {}
    mounts: list[Manifest] = []
    replicated = svc.deploy.replicas > 1 or svc.deploy.mode == "global"
    for index, m in enumerate(svc.mounts):
        name, volume = _volume(ctx, svc, m, index, stateful=stateful, replicated=replicated)
        if volume is not None and name not in volumes:
            volumes[name] = volume
        mount: dict[str, Any] = {"name": name, "mountPath": m.target}
        if m.read_only:
            mount["readOnly"] = True
        if m.propagation:
            mode = PROPAGATION.get(m.propagation)
            if mode is not None:
                mount["mountPropagation"] = mode
                if mode == "Bidirectional" and not svc.privileged:
                    ctx.note(path, f"{m.target}: shared propagation needs a privileged container in Kubernetes")
        if m.selinux:
            ctx.note(path, f"{m.target}: SELinux relabelling (:{m.selinux}) is done by the runtime, not requested")
        mounts.append(mount)
    return list(volumes.values()), mounts


def _volume(
    ctx: Ctx, svc: Service, m: Mount, index: int, *, stateful: bool, replicated: bool
) -> tuple[str, Manifest | None]:
    path = f"services.{svc.name}.volumes"
    if m.type == "volume" and m.source:
        volume = ctx.project.volumes.get(m.source)
        if volume is None:
            raise ctx.fail(svc, f"service {svc.name!r} mounts undefined volume {m.source!r}")
        name = dns_label(m.source)
        if stateful and not volume.external:
            return name, None  # a volumeClaimTemplate of the same name
        settings = volume_settings(ctx.project.spec.get("volumes", {}).get(m.source), m.source)
        if replicated and not volume.external and settings.access_mode in ("ReadWriteOnce", "ReadWriteOncePod"):
            ctx.note(
                path,
                f"{m.source} is {settings.access_mode} and {svc.name} runs several replicas: they can only all "
                "start on one node (use x-kubernetes.access_mode: ReadWriteMany or workload: statefulset)",
            )
        claim: dict[str, Any] = {"claimName": claim_name(volume)}
        if m.read_only:
            claim["readOnly"] = True
        return name, {"name": name, "persistentVolumeClaim": claim}
    if m.type == "volume":
        name = f"anon-{index}"
        return name, {"name": name, "emptyDir": {}}
    if m.type == "tmpfs":
        name = f"tmpfs-{index}"
        empty: dict[str, Any] = {"medium": "Memory"}
        if m.tmpfs_size:
            empty["sizeLimit"] = quantity_bytes(m.tmpfs_size)
        if m.tmpfs_mode is not None:
            ctx.note(path, f"{m.target}: tmpfs mode is not settable on an emptyDir (it is 0777)")
        return name, {"name": name, "emptyDir": empty}
    name = f"host-{index}"
    ctx.note(
        path,
        f"bind mount {m.source} → {m.target} becomes a hostPath volume: the path must exist on the node "
        "running the pod, not on this machine",
    )
    return name, {"name": name, "hostPath": {"path": m.source}}
