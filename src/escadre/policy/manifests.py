"""What a driver renders, as objects the target rules can read and trace back to the Compose file.

``escadre.drivers.registry.render(kind, project, options)`` returns text: Kubernetes manifests (YAML,
several documents), a Swarm stack file, ECS task definitions (JSON). This module splits it into
:class:`ManifestObject` values, each knowing the line it starts on and the Compose path that produced it:
the Kubernetes renderer annotates every object with ``escadre.dev/compose-path: services.<name>``, a
Swarm stack keeps Compose's own layout, ECS task definitions carry the path as a tag or a docker label.
A finding on a rendered object is then located at that Compose key, so it reads like any other finding.

PyYAML (the C loader when available) parses; no platform SDK is imported here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

COMPOSE_PATH = "escadre.dev/compose-path"
_DOC_START = re.compile(r"^---(\s|$)")

WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod", "ReplicationController"}
)


@dataclass(frozen=True, slots=True)
class ManifestObject:
    kind: str
    name: str
    doc: Mapping[str, Any]
    line: int = 0
    """Line of the rendered text where the object starts (1-based; 0 when unknown)."""
    namespace: str | None = None
    compose_path: tuple[str, ...] = ()
    """The Compose key that produced the object (``("services", "web")``), from its annotation."""

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def service(self) -> str | None:
        if len(self.compose_path) >= 2 and self.compose_path[0] == "services":
            return self.compose_path[1]
        return None

    def pod_spec(self) -> Mapping[str, Any] | None:
        """The pod template's spec of a workload (``None`` for other kinds)."""
        if self.kind not in WORKLOAD_KINDS:
            return None
        spec = self.doc.get("spec") or {}
        if self.kind == "Pod":
            return spec if isinstance(spec, Mapping) else None
        if self.kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = spec.get("template") or {}
        inner = template.get("spec") if isinstance(template, Mapping) else None
        return inner if isinstance(inner, Mapping) else None

    def pod_labels(self) -> Mapping[str, Any]:
        if self.kind == "Pod":
            return (self.doc.get("metadata") or {}).get("labels") or {}
        spec = self.doc.get("spec") or {}
        if self.kind == "CronJob":
            spec = (spec.get("jobTemplate") or {}).get("spec") or {}
        template = spec.get("template") or {}
        return (template.get("metadata") or {}).get("labels") or {}

    def containers(self) -> list[Mapping[str, Any]]:
        spec = self.pod_spec() or {}
        out: list[Mapping[str, Any]] = []
        for key in ("initContainers", "containers"):
            out.extend(c for c in spec.get(key) or () if isinstance(c, Mapping))
        return out


@dataclass(frozen=True, slots=True)
class Manifests:
    kind: str
    """The target kind that rendered them: ``kubernetes``, ``swarm`` or ``ecs``."""
    file: str
    """How the rendered text is named in findings that cannot be traced to the Compose file."""
    objects: tuple[ManifestObject, ...] = ()
    namespace: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> Iterator[ManifestObject]:
        return (o for o in self.objects if o.kind in kinds)

    def workloads(self) -> Iterator[ManifestObject]:
        return (o for o in self.objects if o.kind in WORKLOAD_KINDS)


def _path(value: Any) -> tuple[str, ...]:
    """``services.web.ports`` → ``("services", "web", "ports")``; names with dots are rejoined against the
    project by the engine (:func:`escadre.policy.engine.canonical`)."""
    if not isinstance(value, str) or "." not in value:
        return ()
    return tuple(value.split("."))


def _doc_lines(text: str) -> list[int]:
    """The 1-based line where each YAML document of ``text`` starts."""
    starts = [1]
    for number, line in enumerate(text.splitlines(), start=1):
        if _DOC_START.match(line):
            if number == 1:
                continue
            starts.append(number + 1)
    return starts


def parse_manifests(kind: str, text: str, file: str = "<rendered>") -> Manifests:
    """Split rendered text into objects. Invalid input raises ``ValueError`` naming the problem."""
    if kind == "kubernetes":
        return _kubernetes(text, file)
    if kind == "swarm":
        return _swarm(text, file)
    if kind == "ecs":
        return _ecs(text, file)
    raise ValueError(f"no target rules read {kind!r} output")


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_Loader))
    except yaml.YAMLError as exc:
        raise ValueError(f"the rendered output is not valid YAML: {exc}") from None


def _kubernetes(text: str, file: str) -> Manifests:
    objects: list[ManifestObject] = []
    docs = _load_all(text)
    starts = _doc_lines(text)
    # a leading "---" gives an empty first document in the line list but not always in the data
    offset = 0 if len(starts) == len(docs) else max(0, len(starts) - len(docs))
    for index, doc in enumerate(docs):
        line = starts[index + offset] if index + offset < len(starts) else 0
        for item in _flatten(doc):
            meta = item.get("metadata") or {}
            annotations = meta.get("annotations") or {}
            objects.append(
                ManifestObject(
                    kind=str(item.get("kind", "")),
                    name=str(meta.get("name", "")),
                    doc=item,
                    line=line,
                    namespace=meta.get("namespace"),
                    compose_path=_path(annotations.get(COMPOSE_PATH)),
                )
            )
    return Manifests("kubernetes", file, tuple(objects))


def _flatten(doc: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(doc, Mapping):
        return
    if doc.get("kind") == "List" or (isinstance(doc.get("items"), list) and "kind" not in doc):
        for item in doc.get("items") or ():
            yield from _flatten(item)
        return
    yield doc


def _swarm(text: str, file: str) -> Manifests:
    docs = [d for d in _load_all(text) if d is not None]
    if not docs or not isinstance(docs[0], Mapping):
        raise ValueError("a Swarm stack file is one YAML mapping")
    stack = docs[0]
    lines = text.splitlines()

    def line_of(section: str, key: str) -> int:
        in_section = False
        for number, line in enumerate(lines, start=1):
            if re.match(rf"^{re.escape(section)}:\s*$", line):
                in_section = True
            elif in_section and re.match(rf"^\s+{re.escape(key)}:", line):
                return number
            elif in_section and line and not line[0].isspace():
                in_section = False
        return 0

    objects: list[ManifestObject] = []
    for section, kind in (("services", "Service"), ("networks", "Network"), ("secrets", "Secret")):
        for key, value in (stack.get(section) or {}).items():
            objects.append(
                ManifestObject(kind, str(key), value or {}, line_of(section, str(key)), None, (section, str(key)))
            )
    return Manifests("swarm", file, tuple(objects))


def _ecs(text: str, file: str) -> Manifests:
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is None:
        docs = _load_all(text)
        data = docs if len(docs) != 1 else docs[0]
    items = data if isinstance(data, list) else [data]
    objects: list[ManifestObject] = []
    for entry in items:
        if not isinstance(entry, Mapping):
            continue
        item = entry["taskDefinition"] if isinstance(entry.get("taskDefinition"), Mapping) else entry
        path: tuple[str, ...] = ()
        for tag in item.get("tags") or ():
            if isinstance(tag, Mapping) and tag.get("key") == COMPOSE_PATH:
                path = _path(tag.get("value"))
        if not path:
            for container in item.get("containerDefinitions") or ():
                labels = container.get("dockerLabels") or {} if isinstance(container, Mapping) else {}
                if labels.get(COMPOSE_PATH):
                    path = _path(labels[COMPOSE_PATH])
                    break
        name = str(item.get("family", ""))
        line = next((n for n, text_line in enumerate(text.splitlines(), 1) if f'"{name}"' in text_line), 0)
        objects.append(ManifestObject("TaskDefinition", name, item, line, None, path))
    return Manifests("ecs", file, tuple(objects))
