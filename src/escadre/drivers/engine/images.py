"""Building and resolving images on a Docker engine.

A ``build:`` is keyed by a *build hash*: the SHA-256 of every file the build context sends (honouring
``.dockerignore``) plus the Dockerfile and the build options. The built image carries it as the label
``escadre.build-hash``, so the next ``up`` finds it with one query and skips the build when nothing
changed — which is what makes an unchanged ``up`` fast and a changed source file always redeploy.
``--build`` forces a build anyway (the engine's layer cache keeps that cheap).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.utils.build import exclude_paths

from escadre.core.errors import OperationFailed, SpecError
from escadre.core.progress import Progress, ProgressEvent
from escadre.drivers.base import LABEL_APP, LABEL_MANAGED, LABEL_SERVICE, ResolvedImage
from escadre.drivers.engine.client import translate
from escadre.model.project import Build, Project, Service

BUILD_HASH_LABEL = "escadre.build-hash"
_CHUNK = 1 << 20


def _dockerignore(context: Path) -> list[str]:
    path = context / ".dockerignore"
    if not path.exists():
        return []
    patterns = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            patterns.append(line)
    return patterns


def owner_labels(project: Project, service: Service) -> dict[str, str]:
    """Labels Escadre puts on the images it builds (who built them, for which service)."""
    return {LABEL_MANAGED: "true", LABEL_APP: project.name, LABEL_SERVICE: service.name}


def build_hash(build: Build, labels: Mapping[str, str] | None = None) -> str:
    """Content hash of what ``docker build`` would receive for ``build`` (plus the labels Escadre adds,
    which are part of the resulting image)."""
    context = Path(build.context)
    if not context.is_dir():
        raise SpecError(f"build context {build.context} does not exist or is not a directory")
    digest = hashlib.sha256()
    options = {
        "dockerfile": build.dockerfile,
        "inline": build.dockerfile_inline,
        "args": dict(build.args),
        "target": build.target,
        "labels": dict(build.labels),
        "network": build.network,
        "shm_size": build.shm_size,
        "extra_hosts": dict(build.extra_hosts),
        "escadre_labels": dict(labels or {}),
    }
    digest.update(json.dumps(options, sort_keys=True).encode())
    dockerfile = build.dockerfile
    files = sorted(exclude_paths(str(context), _dockerignore(context), dockerfile=dockerfile))
    for rel in files:
        full = context / rel
        try:
            st = full.lstat()
        except OSError:
            continue
        digest.update(f"\0{rel}\0{st.st_mode & 0o777}\0".encode())
        if full.is_symlink():
            digest.update(os.readlink(full).encode())
        elif full.is_file():
            with open(full, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
    dockerfile_path = Path(dockerfile) if os.path.isabs(dockerfile) else context / dockerfile
    if build.dockerfile_inline is None and not dockerfile_path.exists():
        raise SpecError(f"Dockerfile {dockerfile_path} not found in build context {build.context}")
    if dockerfile_path.exists() and not str(dockerfile_path.resolve()).startswith(str(context.resolve())):
        digest.update(dockerfile_path.read_bytes())
    return digest.hexdigest()[:32]


def find_built(api: docker.APIClient, target: str, bhash: str) -> str | None:
    with translate(target, "looking up built images"):
        images = api.images(filters={"label": f"{BUILD_HASH_LABEL}={bhash}"}, quiet=True)
    return images[0] if images else None


def image_id(api: docker.APIClient, target: str, ref: str) -> str | None:
    try:
        with translate(target, f"inspecting image {ref}"):
            return str(api.inspect_image(ref)["Id"])  # type: ignore[no-untyped-call]
    except OperationFailed:
        return None
    except docker.errors.NotFound:
        return None


def _stream_lines(chunks: Iterable[dict[str, Any]], subject: str, progress: Progress) -> tuple[str | None, list[str]]:
    """Forward build/pull output; return (error, last lines)."""
    tail: list[str] = []
    error: str | None = None
    for chunk in chunks:
        if "error" in chunk or "errorDetail" in chunk:
            error = chunk.get("error") or (chunk.get("errorDetail") or {}).get("message") or "unknown error"
            continue
        text = chunk.get("stream") or chunk.get("status") or ""
        if chunk.get("progress"):
            text = f"{text} {chunk['progress']}"
        for raw in str(text).splitlines():
            line = raw.rstrip()
            if not line:
                continue
            tail = [*tail[-19:], line]
            progress.emit(ProgressEvent(subject, "building", "output", detail=line))
    return error, tail


def build_image(
    api: docker.APIClient, target: str, project: Project, service: Service, progress: Progress, *, force: bool
) -> ResolvedImage:
    build = service.build
    assert build is not None
    tag = service.image or f"{project.name}-{service.name}"
    subject = f"service {service.name}"
    owner = owner_labels(project, service)
    bhash = build_hash(build, owner)
    if not force:
        existing = find_built(api, target, bhash)
        if existing:
            current = image_id(api, target, tag)
            if current != existing:
                repo, _, version = tag.rpartition(":") if ":" in tag.rsplit("/", 1)[-1] else (tag, "", "latest")
                with translate(target, f"tagging image {tag}"):
                    api.tag(existing, repo, version or "latest")
            progress.emit(ProgressEvent(subject, "image up to date", "done", detail=tag))
            return ResolvedImage(ref=tag, id=existing, built=False)
    progress.emit(ProgressEvent(subject, "building", "running", detail=tag))
    labels = {**build.labels, BUILD_HASH_LABEL: bhash, **owner}
    kwargs: dict[str, Any] = {
        "path": build.context,
        "dockerfile": build.dockerfile,
        "tag": tag,
        "buildargs": {k: v for k, v in build.args.items() if v is not None},
        "target": build.target,
        "labels": labels,
        "network_mode": build.network,
        "shmsize": build.shm_size,
        "extra_hosts": dict(build.extra_hosts) or None,
        "pull": build.pull,
        "nocache": build.no_cache,
        "cache_from": list(build.cache_from) or None,
        "rm": True,
        "forcerm": True,
        "decode": True,
    }
    if build.dockerfile_inline is not None:
        raise SpecError(
            f"service {service.name!r}: build.dockerfile_inline needs BuildKit, which this driver does not use",
            location=service.location,
            hint="write the Dockerfile to a file in the build context",
        )
    with translate(target, f"building the image of service {service.name!r}"):
        error, tail = _stream_lines(api.build(**{k: v for k, v in kwargs.items() if v is not None}), subject, progress)
    if error:
        progress.emit(ProgressEvent(subject, "building", "failed", detail=error))
        raise OperationFailed(
            f"the image of service {service.name!r} failed to build: {error.strip()}",
            hint=f"the build output above shows the failing step (context {build.context})",
        )
    built = image_id(api, target, tag)
    if built is None:
        raise OperationFailed(f"the build of service {service.name!r} finished but image {tag} is missing")
    progress.emit(ProgressEvent(subject, "built", "done", detail=f"{tag} {built[7:19]}"))
    del tail
    return ResolvedImage(ref=tag, id=built, built=True)


def pull_image(api: docker.APIClient, target: str, service: Service, progress: Progress) -> ResolvedImage:
    ref = service.image
    assert ref is not None
    subject = f"service {service.name}"
    repo, tag = ref, None
    last = ref.rsplit("/", 1)[-1]
    if "@" not in ref and ":" in last:
        repo, tag = ref.rsplit(":", 1)
    progress.emit(ProgressEvent(subject, "pulling", "running", detail=ref))
    try:
        with translate(target, f"pulling image {ref}"):
            error, _ = _stream_lines(api.pull(repo, tag=tag or "latest", stream=True, decode=True), subject, progress)
    except Exception as exc:  # any failure to pull ends in the same advice
        error = str(exc)
    if error:
        raise OperationFailed(
            f"service {service.name!r}: image {ref} is not on the engine and pulling it failed: {error}",
            hint="build the image locally (or add a build: section), or check the registry name and access",
        )
    found = image_id(api, target, ref)
    if found is None:
        raise OperationFailed(f"service {service.name!r}: image {ref} still missing after the pull")
    return ResolvedImage(ref=ref, id=found)


def resolve_image(
    api: docker.APIClient,
    target: str,
    project: Project,
    service: Service,
    progress: Progress,
    *,
    build: bool,
    dry_run: bool = False,
) -> ResolvedImage:
    """The image ``service`` runs: built, found locally, or pulled (``pull_policy`` honoured).

    With ``dry_run`` nothing is built or pulled; the id is ``None`` when it cannot be known yet.
    """
    policy = service.pull_policy or "missing"
    if service.build is not None:
        tag = service.image or f"{project.name}-{service.name}"
        if dry_run:
            bhash = build_hash(service.build, owner_labels(project, service))
            return ResolvedImage(ref=tag, id=find_built(api, target, bhash))
        return build_image(api, target, project, service, progress, force=build or policy == "build")
    assert service.image is not None
    current = image_id(api, target, service.image)
    if dry_run:
        return ResolvedImage(ref=service.image, id=current)
    if current is not None and policy != "always":
        return ResolvedImage(ref=service.image, id=current)
    if policy == "never":
        raise OperationFailed(
            f"service {service.name!r}: image {service.image} is not on the engine and pull_policy is never",
            hint="build or load the image first (docker load / docker build)",
        )
    return pull_image(api, target, service, progress)
