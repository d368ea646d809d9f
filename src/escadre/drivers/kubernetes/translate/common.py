"""What every translation module shares: options, the context that collects notes, names and metadata.

Kubernetes is stricter about names than Compose (``db_data`` is a fine Compose volume name and an invalid
Kubernetes one), so every name goes through ``dns_label``/``dns_subdomain`` here; two Compose names that
would collide after that are an error, never a silent merge.

Every object carries the same metadata so Escadre (and people) can find their way back:

* labels ``escadre.managed``, ``escadre.app``, ``escadre.service`` and (workloads) ``escadre.revision`` from
  ``escadre.drivers.base.labels_for`` — what ``observe``, ``remove_app`` and the prune select on;
* the recommended ``app.kubernetes.io/name``, ``app.kubernetes.io/part-of``, ``app.kubernetes.io/managed-by``;
* the annotation ``escadre.dev/compose-path`` (``services.web``, ``networks.backend``…): the policy engine
  traces a finding on a rendered object back to the Compose file with it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from escadre.core.errors import SpecError
from escadre.drivers.base import labels_for
from escadre.model.project import Project, Service

Manifest = dict[str, Any]
"""One Kubernetes object as the API and ``kubectl`` see it (a plain JSON-able dict)."""

COMPOSE_PATH = "escadre.dev/compose-path"
COMPOSE_NAME = "escadre.dev/compose-name"
"""The Compose-side name of a shared resource (``shop_data``), reported by ``observe``."""
ROLE = "escadre.dev/role"
"""What an object is for, when its kind alone does not say (``stable``, ``canary``, ``preview``...)."""
REPLICAS = "escadre.dev/replicas"
"""The replica count Escadre asked for (an HPA may change ``spec.replicas`` afterwards)."""
CHECKSUM_CONFIG = "escadre.dev/checksum-config"
CHECKSUM_SECRET = "escadre.dev/checksum-secret"
NETWORK_LABEL = "net.escadre.dev/"
"""Prefix of the pod label that makes a pod a member of a Compose network (see ``network.py``)."""

DEFAULT_K8S_VERSION = "1.31"
"""The Kubernetes minor version rendered and validated for when none is given."""
MIN_K8S_VERSION = (1, 25)

Workload = Literal["Deployment", "StatefulSet", "DaemonSet", "Job"]


@dataclass(frozen=True, slots=True)
class Options:
    """How to translate. ``live`` is the driver's mode: one workload per revision (``web-3f2a9c01d4``)
    selected by ``escadre.revision``; the default (render) mode has one workload per service (``web``)
    updated in place by Kubernetes' own rolling update when ``kubectl apply`` changes it."""

    namespace: str
    k8s_version: str = DEFAULT_K8S_VERSION
    live: bool = False
    ingress_class: str | None = None
    """Ingress class for ``x-kubernetes.expose`` when the service does not name one."""
    gateway: str | None = None
    """Default parent Gateway (``[namespace/]name``) for services exposed through Gateway API."""

    @property
    def version(self) -> tuple[int, int]:
        return parse_version(self.k8s_version)


def parse_version(text: str) -> tuple[int, int]:
    """``"1.31"``, ``"v1.31.2"`` → ``(1, 31)``; a clear error for anything else or too old."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.\d+)?", str(text).strip())
    if match is None:
        raise SpecError(f"Kubernetes version {text!r} is not MAJOR.MINOR", hint="for example --k8s-version 1.31")
    version = (int(match.group(1)), int(match.group(2)))
    if version < MIN_K8S_VERSION:
        raise SpecError(
            f"Kubernetes {version[0]}.{version[1]} is older than the oldest supported version "
            f"{MIN_K8S_VERSION[0]}.{MIN_K8S_VERSION[1]}",
            hint="upgrade the cluster, or render for 1.25 or later",
        )
    return version


@dataclass(frozen=True, slots=True)
class Note:
    """A value-level approximation: what a Compose value became instead of its exact meaning."""

    path: str
    message: str


@dataclass(frozen=True, slots=True)
class SecretSource:
    """A Secret Escadre creates from a Compose secret. Only *where* the value comes from is kept here;
    the live driver reads it when it creates the Secret, ``render`` prints how to create it."""

    key: str
    name: str
    data_key: str
    file: str | None = None
    environment: str | None = None
    inline: bool = False


@dataclass
class Ctx:
    """The project being translated, the options, and the notes collected on the way."""

    project: Project
    options: Options
    notes: list[Note] = field(default_factory=list)

    def note(self, path: str, message: str) -> None:
        item = Note(path, message)
        if item not in self.notes:
            self.notes.append(item)

    def fail(self, service: Service | None, message: str, hint: str | None = None) -> SpecError:
        return SpecError(message, location=service.location if service is not None else None, hint=hint)

    @property
    def app(self) -> str:
        return self.project.name

    def meta(
        self,
        name: str,
        *,
        path: str,
        service: str | None = None,
        revision: str | None = None,
        component: str | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        namespaced: bool = True,
    ) -> Manifest:
        """``metadata`` with Escadre's labels and the Compose path annotation."""
        meta: Manifest = {"name": name}
        if namespaced:
            meta["namespace"] = self.options.namespace
        meta["labels"] = {**self.labels(service, revision, component), **(labels or {})}
        meta["annotations"] = {COMPOSE_PATH: path, **(annotations or {})}
        return meta

    def labels(
        self, service: str | None = None, revision: str | None = None, component: str | None = None
    ) -> dict[str, str]:
        base = labels_for(self.app, service, revision)
        base["app.kubernetes.io/name"] = label_value(service or component or self.app)
        base["app.kubernetes.io/part-of"] = label_value(self.app)
        base["app.kubernetes.io/managed-by"] = "escadre"
        return base


_INVALID = re.compile(r"[^a-z0-9-]+")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def dns_label(text: str, *, limit: int = 63) -> str:
    """A valid RFC 1123 label (lowercase alphanumerics and ``-``, ≤ ``limit``) derived from ``text``;
    names that had to be shortened or changed keep a hash of the original so they stay distinct."""
    clean = _INVALID.sub("-", text.lower()).strip("-")
    clean = re.sub(r"-{2,}", "-", clean)
    if not clean:
        return f"x-{_short_hash(text)}"
    if len(clean) > limit:
        clean = clean[: limit - 7].rstrip("-") + "-" + _short_hash(text)
    return clean


def service_name(name: str, *, limit: int = 63) -> str:
    """A Service name: an RFC 1035 label (must start with a letter)."""
    label = dns_label(name, limit=limit)
    if not label[0].isalpha():
        label = dns_label(f"s-{label}", limit=limit)
    return label


def label_value(text: str) -> str:
    """``text`` if it is a valid label value, else a sanitized one."""
    if len(text) <= 63 and _LABEL_VALUE.match(text):
        return text
    return dns_label(text)


def workload_name(service: str, revision: str | None) -> str:
    """``web`` (render) or ``web-3f2a9c01d4`` (live: one workload per revision)."""
    if revision is None:
        return service_name(service)
    return f"{service_name(service, limit=52)}-{revision[:10]}"


def check_label_value(ctx: Ctx, service: Service | None, what: str, value: str) -> str:
    if len(value) > 63 or not _LABEL_VALUE.match(value):
        raise ctx.fail(
            service,
            f"{what} {value!r} cannot be a Kubernetes label value (at most 63 letters, digits, '-', '_', '.')",
            hint="choose a shorter name with -p/--project-name or rename the service",
        )
    return value


def quantity_bytes(value: int) -> str:
    """Bytes as the shortest exact Kubernetes quantity (``64Mi``, ``1536Ki``, ``1000``)."""
    for suffix, factor in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if value >= factor and value % factor == 0:
            return f"{value // factor}{suffix}"
    return str(value)


def quantity_cpu(cores: float) -> str:
    millis = round(cores * 1000)
    if millis % 1000 == 0:
        return str(millis // 1000)
    return f"{max(millis, 1)}m"


def seconds(value: float, minimum: int = 1) -> int:
    """A duration in whole seconds (Kubernetes probe fields are integers), rounded up."""
    whole = int(value)
    if whole < value:
        whole += 1
    return max(whole, minimum)


KIND_ORDER: dict[str, int] = {
    kind: index
    for index, kind in enumerate(
        [
            "Namespace",
            "NetworkPolicy",
            "ConfigMap",
            "Secret",
            "PersistentVolumeClaim",
            "Service",
            "StatefulSet",
            "Deployment",
            "DaemonSet",
            "Job",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "Ingress",
            "HTTPRoute",
        ]
    )
}
"""The order objects are written in: what others refer to first (``kubectl apply`` order, like Helm's)."""


def sort_key(obj: Manifest) -> tuple[int, str]:
    return KIND_ORDER.get(obj["kind"], 99), obj["metadata"]["name"]


_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def qualified_key(key: str) -> bool:
    """Whether ``key`` is a valid label/annotation key (``[prefix/]name``)."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _PREFIX.match(prefix)):
        return False
    return 0 < len(name) <= 63 and bool(_QUALIFIED_NAME.match(name))


def annotations_from(ctx: Ctx, path: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Compose labels/annotations as Kubernetes annotations (whose values are free text); a key
    Kubernetes cannot hold is left out with a note."""
    out: dict[str, str] = {}
    for key, value in sorted(values.items()):
        if qualified_key(key):
            out[key] = "" if value is None else str(value)
        else:
            ctx.note(path, f"{key!r} is not a valid Kubernetes annotation key and is left out")
    return out
