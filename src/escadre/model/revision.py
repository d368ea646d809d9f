"""Revisions: one service's normalized spec plus its resolved image, named by a short content hash.

Two revisions with the same id are interchangeable, so ``up`` never redeploys an unchanged service. The
hash leaves out what can change without touching a running instance:

* ``deploy.replicas`` — scaling is done in place, like a Kubernetes pod-template hash;
* ``x-escadre`` — how to roll out is not what is rolled out;
* ``depends_on`` and ``profiles`` — start-up ordering and selection, not the container;
* ``build`` when the resolved image id is known — the image id already says what was built.

Secrets and configs enter through ``content_digests`` (a SHA-256 of each referenced file's content) so
rotating a secret rolls the service without the secret itself ever being stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from escadre.model.project import EMPTY, Service, frozen_map

REVISION_ID_LENGTH = 10
_EXCLUDED_KEYS = ("x-escadre", "depends_on", "profiles", "scale")


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces) used for hashing and change detection."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def revision_spec(service: Service, *, image_known: bool) -> dict[str, Any]:
    """The part of a service's normalized spec that defines its revision."""
    spec = {k: v for k, v in service.spec.items() if k not in _EXCLUDED_KEYS}
    deploy = dict(spec.get("deploy") or {})
    deploy.pop("replicas", None)
    if deploy:
        spec["deploy"] = deploy
    else:
        spec.pop("deploy", None)
    if image_known:
        spec.pop("build", None)
    return spec


@dataclass(frozen=True, slots=True)
class Revision:
    """An immutable, deployable snapshot of one service."""

    service: str
    id: str
    image: str
    """The reference a driver runs (a tag, or the image id for locally built images)."""
    image_id: str | None
    spec: Mapping[str, Any]
    service_model: Service | None = field(default=None, compare=False, repr=False)
    """The service as this revision defines it, when it differs from the Compose files at hand (a stable
    revision re-created from the state store during a rollout or rollback)."""

    @property
    def short(self) -> str:
        return f"{self.service}@{self.id}"


def make_revision(
    service: Service,
    *,
    image: str,
    image_id: str | None,
    content_digests: Mapping[str, str] = EMPTY,
) -> Revision:
    """Build the revision for ``service`` running ``image`` (resolved to ``image_id`` when known)."""
    spec = revision_spec(service, image_known=image_id is not None)
    payload = {"spec": spec, "image": image_id or image, "contents": dict(sorted(content_digests.items()))}
    digest = hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:REVISION_ID_LENGTH]
    return Revision(service=service.name, id=digest, image=image, image_id=image_id, spec=frozen_map(spec))
