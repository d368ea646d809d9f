"""Images (``ESC-IMG-*``): what a service pulls, and from where.

A mutable tag means the same Compose file can deploy different code tomorrow, and a rollback may not
bring back what ran before; a digest pins the bytes. These rules apply to images that are pulled; an
image built here is judged through its Dockerfile's ``FROM`` (``ESC-DKR-009``/``010``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from escadre.policy.model import Hit, Refs, RuleSet
from escadre.policy.subjects import ServiceInput

rules = RuleSet("compose", "images")


@dataclass(frozen=True, slots=True)
class ImageRef:
    registry: str
    repository: str
    tag: str | None
    digest: str | None


def parse_image(reference: str) -> ImageRef:
    """``nginx`` → docker.io/library/nginx, no tag; ``ghcr.io/a/b:1.2@sha256:…`` → all four parts."""
    name, _, digest = reference.partition("@")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, rest
    else:
        registry, path = "docker.io", name
    tag: str | None = None
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        repo_last, tag = last.split(":", 1)
        path = path[: len(path) - len(last)] + repo_last
    if registry == "docker.io" and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag, digest or None)


def _pulled(s: ServiceInput) -> ImageRef | None:
    if s.service.build is not None or not s.service.image:
        return None
    if "$" in s.service.image:
        return None
    return parse_image(s.service.image)


@rules.add(
    "ESC-IMG-001",
    "Image tag `latest`",
    "medium",
    rationale="""`latest` moves: two deploys of the same file can run different code, and a rollback
    cannot bring back what ran before.""",
    remediation="Pin a version tag (`nginx:1.27.4`), better a digest (`nginx:1.27.4@sha256:…`).",
    refs=Refs(checkov=("CKV_K8S_14",), trivy=("KSV013",), hadolint=("DL3007",)),
)
def latest_tag(s: ServiceInput) -> Iterator[Hit]:
    ref = _pulled(s)
    if ref is not None and ref.tag == "latest" and ref.digest is None:
        yield Hit(f"uses the mutable tag latest ({s.service.image})", ("image",), evidence=s.service.image or "")


@rules.add(
    "ESC-IMG-002",
    "Image without a tag",
    "medium",
    rationale="An image without a tag is `latest` implicitly, with the same drift, and less visibly.",
    remediation="Add an explicit version tag (and a digest).",
    refs=Refs(checkov=("CKV_K8S_14",), trivy=("KSV013",), hadolint=("DL3006",)),
)
def untagged(s: ServiceInput) -> Iterator[Hit]:
    ref = _pulled(s)
    if ref is not None and ref.tag is None and ref.digest is None:
        yield Hit(f"has no tag ({s.service.image} means :latest)", ("image",), evidence=s.service.image or "")


@rules.add(
    "ESC-IMG-003",
    "Image not pinned by digest",
    "low",
    rationale="""Tags can be moved or overwritten in the registry; only a digest guarantees that every node
    and every rollback runs the same bytes that were checked.""",
    remediation="Append the digest: `image: nginx:1.27.4@sha256:…` (`docker buildx imagetools inspect`).",
    refs=Refs(checkov=("CKV_K8S_43",)),
    packs=("restricted",),
)
def no_digest(s: ServiceInput) -> Iterator[Hit]:
    ref = _pulled(s)
    if ref is not None and ref.digest is None:
        yield Hit(f"is not pinned by digest ({s.service.image})", ("image",), evidence=s.service.image or "")


@rules.add(
    "ESC-IMG-004",
    "Image from a registry outside the allow-list",
    "medium",
    rationale="""Pulling from arbitrary registries bypasses the organisation's image scanning and
    provenance controls.""",
    remediation="""Mirror the image into an allowed registry, or add the registry to
    ESCADRE_POLICY_REGISTRIES.""",
    refs=Refs(cis=("4.2",), hadolint=("DL3026",)),
)
def registry_allow_list(s: ServiceInput) -> Iterator[Hit]:
    allowed = s.options.allowed_registries
    ref = _pulled(s)
    if not allowed or ref is None:
        return
    if not any(ref.registry == a or ref.registry.endswith("." + a) for a in allowed):
        yield Hit(
            f"pulls from {ref.registry}, not an allowed registry ({', '.join(allowed)})",
            ("image",),
            evidence=ref.registry,
        )


RULES = rules.rules
