"""Compose ``configs`` → ConfigMaps and Compose ``secrets`` → Secrets, both mounted as files.

* A config's content is not secret: it goes into a ConfigMap (``binaryData`` when it is not UTF-8), in
  rendered manifests too.
* A secret's value **never** appears in rendered output. ``escadre render`` references the Secret and
  prints, in its header, the ``kubectl create secret`` command that creates it from the same file; the
  live driver creates it through the API from the file, variable or inline content (see ``secret_object``).
* ``external: true`` configs and secrets are referenced by ``name``, never created nor copied. By
  convention the data key inside them is the Compose key (``kubectl create secret generic NAME
  --from-file=KEY=…``).

Each is mounted at its Compose target with ``subPath`` (so one file appears, not a directory). Kubernetes
does not refresh ``subPath`` mounts, which is why the pod template carries checksum annotations of the
contents: a changed config or secret changes the template and rolls the pods.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from escadre.drivers.kubernetes.translate.common import (
    CHECKSUM_CONFIG,
    CHECKSUM_SECRET,
    COMPOSE_NAME,
    Ctx,
    Manifest,
    SecretSource,
    annotations_from,
    dns_label,
)
from escadre.model.project import FileMount, FileSource, Service

MAX_CONFIG_BYTES = 1024 * 1024
_KEY = re.compile(r"[^-._a-zA-Z0-9]+")


def object_name(source: FileSource) -> str:
    """The ConfigMap/Secret name: the external name as is, else the Compose name made DNS-safe."""
    return source.name if source.external else dns_label(source.name, limit=253)


def data_key(source: FileSource) -> str:
    return _KEY.sub("-", source.key) or "value"


def read_content(ctx: Ctx, source: FileSource, kind: str) -> bytes:
    """The bytes of a config or secret (never logged, never stored)."""
    if source.content is not None:
        return source.content.encode()
    if source.environment is not None:
        return ctx.project.source_env.get(source.environment, "").encode()
    assert source.file is not None
    try:
        with open(source.file, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ctx.fail(
            None, f"cannot read the file of {kind} {source.key!r}: {exc.strerror}", hint=f"check {source.file}"
        ) from exc


def digest(ctx: Ctx, source: FileSource, kind: str) -> str:
    if source.external:
        return f"external:{source.name}"
    return hashlib.sha256(read_content(ctx, source, kind)).hexdigest()


def config_map(ctx: Ctx, source: FileSource) -> Manifest:
    content = read_content(ctx, source, "config")
    if len(content) > MAX_CONFIG_BYTES:
        raise ctx.fail(
            None,
            f"config {source.key!r} is {len(content)} bytes; a ConfigMap holds at most 1 MiB",
            hint="ship the file in the image, or use a volume",
        )
    key = data_key(source)
    meta = ctx.meta(
        object_name(source),
        path=f"configs.{source.key}",
        component=source.key,
        annotations={COMPOSE_NAME: source.name},
    )
    meta["annotations"].update(annotations_from(ctx, f"configs.{source.key}.labels", source.labels))
    obj: Manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
    try:
        obj["data"] = {key: content.decode("utf-8")}
    except UnicodeDecodeError:
        obj["binaryData"] = {key: base64.b64encode(content).decode()}
    return obj


def config_maps(ctx: Ctx) -> list[Manifest]:
    return [config_map(ctx, src) for _, src in sorted(ctx.project.configs.items()) if not src.external]


def secret_sources(ctx: Ctx) -> list[SecretSource]:
    """The secrets Escadre creates (not the external ones), with where their value comes from."""
    out = []
    for key, src in sorted(ctx.project.secrets.items()):
        if src.external:
            continue
        out.append(
            SecretSource(
                key=key,
                name=object_name(src),
                data_key=data_key(src),
                file=src.file,
                environment=src.environment,
                inline=src.content is not None,
            )
        )
    return out


def secret_object(ctx: Ctx, source: FileSource) -> Manifest:
    """The Secret *with its value*: only the live driver calls this, to send it to the API server."""
    meta = ctx.meta(
        object_name(source), path=f"secrets.{source.key}", component=source.key, annotations={COMPOSE_NAME: source.name}
    )
    value = base64.b64encode(read_content(ctx, source, "secret")).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": {data_key(source): value}}


def create_command(ctx: Ctx, source: SecretSource) -> str:
    """How to create a rendered Secret by hand (the value itself is never printed)."""
    base = f"kubectl -n {ctx.options.namespace} create secret generic {source.name}"
    if source.file is not None:
        return f"{base} --from-file={source.data_key}={source.file}"
    if source.environment is not None:
        return f'{base} --from-literal={source.data_key}="${source.environment}"'
    return f"{base} --from-file={source.data_key}=FILE  # secrets.{source.key} is inline: write it to FILE first"


def checksums(ctx: Ctx, svc: Service) -> dict[str, str]:
    """Pod-template annotations that change when a mounted config's or secret's content changes.

    The secret checksum is a SHA-256 over the SHA-256 of each value (the same digests that enter the
    revision id): it reveals nothing a value could be read from."""
    out: dict[str, str] = {}
    for kind, mounts, table, annotation in (
        ("config", svc.configs, ctx.project.configs, CHECKSUM_CONFIG),
        ("secret", svc.secrets, ctx.project.secrets, CHECKSUM_SECRET),
    ):
        if not mounts:
            continue
        parts = sorted(f"{m.source}={digest(ctx, table[m.source], kind)}" for m in mounts if m.source in table)
        out[annotation] = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return out


def _mount(
    ctx: Ctx, svc: Service, m: FileMount, source: FileSource, kind: str
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    key = data_key(source)
    volume_name = dns_label(f"{kind}-{source.key}")
    item: dict[str, Any] = {"key": key, "path": key}
    if m.mode is not None:
        item["mode"] = m.mode
    ref_field = "secretName" if kind == "secret" else "name"
    volume_kind = "secret" if kind == "secret" else "configMap"
    volume = {"name": volume_name, volume_kind: {ref_field: object_name(source), "items": [item]}}
    if m.uid is not None or m.gid is not None:
        ctx.note(
            f"services.{svc.name}.{kind}s",
            f"uid/gid of {m.target}: Kubernetes mounts {kind} files as root (use the pod's fsGroup to share them)",
        )
    mount = {"name": volume_name, "mountPath": m.target, "subPath": key, "readOnly": True}
    return volume_name, volume, mount


def file_mounts(ctx: Ctx, svc: Service) -> tuple[list[Manifest], list[Manifest]]:
    """Volumes and volumeMounts for the service's configs and secrets."""
    volumes: dict[str, Manifest] = {}
    mounts: list[Manifest] = []
    for kind, items, table in (
        ("config", svc.configs, ctx.project.configs),
        ("secret", svc.secrets, ctx.project.secrets),
    ):
        for m in items:
            source = table.get(m.source)
            if source is None:
                raise ctx.fail(svc, f"service {svc.name!r} uses undefined {kind} {m.source!r}")
            name, volume, mount = _mount(ctx, svc, m, source, kind)
            if name not in volumes:
                volumes[name] = volume
            elif volume != volumes[name]:
                ctx.note(f"services.{svc.name}.{kind}s", f"{m.source} is mounted twice: the first mode applies")
            mounts.append(mount)
    return list(volumes.values()), mounts
