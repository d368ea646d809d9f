"""Swarm secrets and configs, versioned by content.

Swarm secrets and configs are immutable: an object in use cannot be updated, so a service cannot pick up
a rotated value under the same name. Escadre names each one after its content —
``<app>_<key>_<sha256(content)[:8]>`` — so a new value is a new object, the revision that uses it is a new
revision (the content digest is already part of the revision id), and old and new revisions can run side
by side during a rollout, each with its own value. An old version is removed as soon as no service of the
app uses it any more (``prune``). ``external: true`` ones are only looked up, by their ``name``.

Values are read here and sent to the engine only: never logged, never put in labels or events (labels
carry the Compose key and the short content hash, which the name shows anyway).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import docker

from escadre.core.errors import SpecError, UsageError
from escadre.drivers.base import LABEL_APP, labels_for
from escadre.model.project import FileSource, Project

Kind = Literal["secret", "config"]
KINDS: tuple[Kind, ...] = ("secret", "config")
LABEL_KEY = "escadre.key"
NAME_LIMIT = 64


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """A swarm secret or config a task mounts."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Wanted:
    """One object a project needs: its versioned name and content (``None`` for external ones)."""

    kind: Kind
    key: str
    name: str
    data: bytes | None
    labels: Mapping[str, str]
    template_driver: str | None = None


def read_source(source: FileSource, environ: Mapping[str, str], kind: Kind) -> bytes:
    """The content of a secret or config; a ``SpecError`` at its declaration when it cannot be read."""
    if source.content is not None:
        return source.content.encode()
    if source.environment is not None:
        if source.environment not in environ:
            raise SpecError(
                f"{kind} {source.key!r} takes its value from the environment variable {source.environment}, "
                "which is not set",
                location=source.location,
                hint=f"export {source.environment}=... before running escadre",
            )
        return environ[source.environment].encode()
    if source.file is None:
        raise SpecError(f"{kind} {source.key!r} has no file, environment or content", location=source.location)
    try:
        with open(source.file, "rb") as fh:
            return fh.read()
    except OSError as exc:
        reason = "does not exist" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
        raise SpecError(
            f"the file of {kind} {source.key!r} ({source.file}) {reason}",
            location=source.location,
            hint=f"create it, or point {kind}s.{source.key}.file at the right path",
        ) from exc


def versioned_name(app: str, key: str, data: bytes) -> str:
    """``<app>_<key>_<hash8>``, shortened (keeping the hash) to Swarm's 64-character limit."""
    digest = hashlib.sha256(data).hexdigest()[:8]
    head = f"{app}_{key}"
    if len(head) + 9 > NAME_LIMIT:
        head = head[: NAME_LIMIT - 9].rstrip("_.-")
    return f"{head}_{digest}"


def wanted(project: Project, kind: Kind, *, services: Iterable[str] | None = None) -> list[Wanted]:
    """The objects of ``kind`` the project's services (or only ``services``) mount, contents read now.

    Reading every content before anything is created is what makes a missing file fail with nothing
    half-created."""
    pool = project.secrets if kind == "secret" else project.configs
    chosen = project.services if services is None else {n: project.services[n] for n in services}
    keys: list[str] = []
    for svc in chosen.values():
        for mount in svc.secrets if kind == "secret" else svc.configs:
            if mount.source not in keys:
                keys.append(mount.source)
    out: list[Wanted] = []
    for key in keys:
        source = pool.get(key)
        if source is None:
            raise SpecError(f"a service uses {kind} {key!r}, which is not declared under {kind}s:")
        template = (project.spec.get(f"{kind}s") or {}).get(key, {}).get("template_driver")
        if source.external:
            out.append(Wanted(kind, key, source.name, None, {}, template))
            continue
        data = read_source(source, project.source_env, kind)
        labels = {**source.labels, **labels_for(project.name), LABEL_KEY: key}
        out.append(Wanted(kind, key, versioned_name(project.name, key, data), data, labels, template))
    return out


class Objects:
    """Secrets or configs of one kind on a swarm (``api`` must talk to a manager)."""

    def __init__(self, api: docker.APIClient, kind: Kind) -> None:
        self.api: Any = api  # the SDK's stubs leave its swarm calls untyped
        self.kind = kind

    def find(self, filters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        call = self.api.secrets if self.kind == "secret" else self.api.configs
        return list(call(filters=dict(filters or {})) or [])

    def by_name(self) -> dict[str, dict[str, Any]]:
        return {o["Spec"]["Name"]: o for o in self.find()}

    def of_app(self, app: str) -> list[dict[str, Any]]:
        return self.find({"label": [f"{LABEL_APP}={app}"]})

    def check(self, items: Iterable[Wanted], target: str, existing: Mapping[str, Any] | None = None) -> None:
        """Raise ``UsageError`` when an external one does not exist."""
        existing = self.by_name() if existing is None else existing
        for item in items:
            if item.data is None and item.name not in existing:
                raise UsageError(
                    f"{self.kind} {item.name!r} is declared external but does not exist on target {target!r}",
                    hint=f"create it first: printf '%s' \"$VALUE\" | docker {self.kind} create {item.name} -",
                )

    def ensure(self, items: Iterable[Wanted], target: str) -> tuple[dict[str, ObjectRef], list[str]]:
        """Create the missing versions; return key → reference and the names created now."""
        items = list(items)
        existing = self.by_name()
        self.check(items, target, existing)
        refs: dict[str, ObjectRef] = {}
        created: list[str] = []
        for item in items:
            found = existing.get(item.name)
            if item.data is None:
                refs[item.key] = ObjectRef(found["ID"], item.name)  # type: ignore[index]
                continue
            if found is None:
                if self.kind == "secret":
                    made = self.api.create_secret(item.name, item.data, labels=dict(item.labels))
                else:
                    templating = {"Name": item.template_driver} if item.template_driver else None
                    made = self.api.create_config(item.name, item.data, labels=dict(item.labels), templating=templating)
                refs[item.key] = ObjectRef(str(made["ID"]), item.name)
                created.append(item.name)
            else:
                refs[item.key] = ObjectRef(found["ID"], item.name)
        return refs, created

    def remove(self, object_id: str) -> None:
        if self.kind == "secret":
            self.api.remove_secret(object_id)
        else:
            self.api.remove_config(object_id)


def in_use(services: Iterable[Mapping[str, Any]], kind: Kind) -> set[str]:
    """IDs of the ``kind`` objects the given services (Engine API JSON) mount."""
    field = "Secrets" if kind == "secret" else "Configs"
    used: set[str] = set()
    for svc in services:
        spec = ((svc.get("Spec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        used.update(ref.get(f"{kind.capitalize()}ID", "") for ref in spec.get(field) or [])
        previous = ((svc.get("PreviousSpec") or {}).get("TaskTemplate") or {}).get("ContainerSpec") or {}
        used.update(ref.get(f"{kind.capitalize()}ID", "") for ref in previous.get(field) or [])
    return used


__all__ = ["KINDS", "Kind", "ObjectRef", "Objects", "Wanted", "in_use", "read_source", "versioned_name", "wanted"]
