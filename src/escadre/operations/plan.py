"""Working out what ``up`` must change: desired revisions against what the target runs.

``plan`` compares, service by service, the revision the Compose files describe now with the revisions
observed on the target (found by label), and says why each service changes — down to the spec keys that
differ when the state store remembers the running revision. ``escadre plan`` prints it; ``up`` executes
it. Nothing here mutates the target (images are resolved with ``dry_run`` unless the caller built them).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from escadre.core.errors import SpecError
from escadre.core.redact import redact_spec
from escadre.drivers.base import AppStatus, ResolvedImage
from escadre.model.project import FileSource, Project, Service
from escadre.model.revision import Revision, make_revision

Action = Literal["create", "update", "scale", "start", "unchanged", "remove"]


@dataclass(frozen=True, slots=True)
class ServiceChange:
    service: str
    action: Action
    revision: Revision | None
    current: tuple[str, ...] = ()
    replicas: int = 0
    current_replicas: int = 0
    reason: str = ""
    changed_keys: tuple[str, ...] = ()
    image_pending: bool = False
    """True when the image still has to be built, so the final revision id is not known yet."""


@dataclass(frozen=True, slots=True)
class Plan:
    project: str
    target: str
    changes: tuple[ServiceChange, ...]
    orphans: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_changes(self) -> bool:
        return any(c.action != "unchanged" for c in self.changes) or bool(self.orphans)

    def change(self, service: str) -> ServiceChange:
        for c in self.changes:
            if c.service == service:
                return c
        raise KeyError(service)


def content_digest(source: FileSource, environ: Mapping[str, str] | None = None) -> str:
    """SHA-256 of a secret's or config's content: part of a revision's identity, never its value."""
    env = os.environ if environ is None else environ
    if source.external:
        return f"external:{source.name}"
    if source.content is not None:
        data = source.content.encode()
    elif source.environment is not None:
        data = env.get(source.environment, "").encode()
    else:
        assert source.file is not None
        try:
            with open(source.file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise SpecError(f"cannot read the file of {source.key!r}: {exc}", location=source.location) from exc
    return hashlib.sha256(data).hexdigest()


def service_revision(project: Project, service: Service, image: ResolvedImage) -> Revision:
    env = project.source_env
    digests = {f"secret:{m.source}": content_digest(project.secrets[m.source], env) for m in service.secrets}
    digests.update({f"config:{m.source}": content_digest(project.configs[m.source], env) for m in service.configs})
    return make_revision(service, image=image.ref, image_id=image.id, content_digests=digests)


def changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted paths of the keys whose values differ (one level into mappings such as environment)."""
    keys: list[str] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        path = f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping) and not prefix:
            keys.extend(changed_keys(a, b, prefix=f"{path}.") or [path])
        else:
            keys.append(path)
    return keys


def plan_service(
    service: Service,
    revision: Revision,
    observed: AppStatus,
    *,
    image_pending: bool = False,
    previous_spec: Mapping[str, Any] | None = None,
) -> ServiceChange:
    """Decide what to do with one service given what runs."""
    running = observed.for_service(service.name)
    current = tuple(r.revision for r in running)
    replicas = service.replicas
    if not running:
        return ServiceChange(service.name, "create", revision, (), replicas, 0, "new service", (), image_pending)
    mine = observed.revision(service.name, revision.id)
    others = [r for r in running if r.revision != revision.id]
    if mine is not None and not others:
        if mine.desired != replicas:
            return ServiceChange(
                service.name,
                "scale",
                revision,
                current,
                replicas,
                mine.desired,
                f"replicas {mine.desired} → {replicas}",
            )
        stopped = [i for i in mine.instances if i.state in ("exited", "failed", "created") and not i.completed]
        if stopped:
            return ServiceChange(
                service.name,
                "start",
                revision,
                current,
                replicas,
                mine.desired,
                f"{len(stopped)} instance(s) not running",
            )
        return ServiceChange(service.name, "unchanged", revision, current, replicas, mine.desired)
    current_replicas = sum(r.desired for r in running)
    keys: tuple[str, ...] = ()
    if image_pending:
        reason = "image will be rebuilt (sources changed)"
    elif previous_spec is not None:
        keys = tuple(changed_keys(previous_spec, redact_spec(revision.spec)))
        reason = "changed: " + ", ".join(keys) if keys else "image changed"
    else:
        reason = "revision changed"
    if mine is not None:
        reason = f"finishing: old revision(s) {', '.join(r.revision for r in others)} still present"
    return ServiceChange(
        service.name, "update", revision, current, replicas, current_replicas, reason, keys, image_pending
    )
