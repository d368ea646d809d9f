"""The fake API server's object store: what etcd plus the API server's generic registry do.

Kept semantics: a cluster-wide ``resourceVersion`` counter (every write bumps it; a write that changes
nothing does not), ``uid``/``creationTimestamp``, ``generation`` bumped when anything outside ``metadata``
and ``status`` changes, optimistic concurrency (a PUT carrying a stale ``resourceVersion`` is a 409), the
``status`` subresource (writes to the main resource keep the status, writes to ``/status`` only change
it), label selectors (``=``, ``!=``, ``in``, ``notin``, exists, ``!``), creation refused in a namespace that
does not exist, cascading deletion through ``ownerReferences`` and of a namespace's contents, and an event
log that ``watch`` replays from any ``resourceVersion`` still kept.

Not kept: deletion is immediate (no ``deletionTimestamp``, finalizers or grace periods), a deleted
namespace does not go through ``Terminating``, field selectors are ignored, admission (quota, defaults
other than the few below, validation beyond names) does not exist.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.drivers.kubernetes.fakeapi.merge import Conflict, Path, merge, merge_patch, server_side_apply, take_ownership
from tests.drivers.kubernetes.fakeapi.resources import Resource

Obj = dict[str, Any]
Key = tuple[str, str, str, str]  # group, plural, namespace, name
NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class ApiError(Exception):
    """An error answer: a ``Status`` object with ``code`` and ``reason``."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> Obj:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------------ selectors

_REQ = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w./-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def parse_selector(text: str | None) -> list[Callable[[dict[str, str]], bool]]:
    if not text:
        return []
    parts: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    parts.append(current)
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in parts:
        m = _REQ.match(part)
        if m is None:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        neg, key, op, value, set_op, values = m.groups()
        if op in ("=", "=="):
            tests.append(lambda ls, k=key, v=value: ls.get(k) == v)
        elif op == "!=":
            tests.append(lambda ls, k=key, v=value: ls.get(k) != v)
        elif set_op:
            options = {v.strip() for v in values.split(",") if v.strip()}
            if set_op == "in":
                tests.append(lambda ls, k=key, o=options: ls.get(k) in o)
            else:
                tests.append(lambda ls, k=key, o=options: ls.get(k) not in o)
        elif neg:
            tests.append(lambda ls, k=key: k not in ls)
        else:
            tests.append(lambda ls, k=key: k in ls)
    return tests


def matches(obj: Obj, tests: list[Callable[[dict[str, str]], bool]]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(t(labels) for t in tests)


def _body(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 0
        self.objects: dict[Key, Obj] = {}
        self.owners: dict[Key, dict[str, set[Path]]] = {}
        self.kinds: dict[Key, Resource] = {}
        self.events: list[tuple[int, str, str, str, str, Obj]] = []
        self.on_write: list[Callable[[], None]] = []

    # -------------------------------------------------------------------------------------- helpers

    @staticmethod
    def key(res: Resource, namespace: str | None, name: str) -> Key:
        return (res.group, res.plural, namespace or "" if res.namespaced else "", name)

    def _bump(self) -> str:
        self.rv += 1
        return str(self.rv)

    def _record(self, kind: str, res: Resource, obj: Obj) -> None:
        ns = obj["metadata"].get("namespace", "")
        self.events.append((self.rv, res.group, res.plural, ns, kind, copy.deepcopy(obj)))
        del self.events[:-20_000]
        self.changed.notify_all()

    def _written(self) -> None:
        for hook in self.on_write:
            hook()

    def _require_namespace(self, res: Resource, namespace: str | None) -> None:
        if not res.namespaced:
            return
        if ("", "namespaces", "", namespace or "") not in self.objects:
            raise ApiError(
                404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
            )

    def _missing(self, res: Resource, name: str) -> ApiError:
        group = f".{res.group}" if res.group else ""
        return ApiError(404, "NotFound", f'{res.plural}{group} "{name}" not found', {"name": name, "kind": res.plural})

    def _store(self, res: Resource, key: Key, obj: Obj, event: str) -> Obj:
        obj["metadata"]["resourceVersion"] = self._bump()
        self.objects[key] = obj
        self.kinds[key] = res
        self._record(event, res, obj)
        return copy.deepcopy(obj)

    def _managed(self, key: Key, obj: Obj, manager: str, operation: str) -> None:
        entries = [
            e
            for e in obj["metadata"].get("managedFields") or []
            if e.get("manager") != manager or e.get("operation") != operation
        ]
        entries.append(
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": obj.get("apiVersion"),
                "time": now(),
                "fieldsType": "FieldsV1",
                "fieldsV1": {},
            }
        )
        obj["metadata"]["managedFields"] = [
            e for e in entries if e["manager"] in self.owners.get(key, {}) or e["manager"] == manager
        ]

    # ------------------------------------------------------------------------------------ verbs

    def create(self, res: Resource, namespace: str | None, obj: Obj, manager: str = "unknown") -> Obj:
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name") or ""
            if not NAME.match(name) or len(name) > 253:
                raise ApiError(422, "Invalid", f'{res.kind} "{name}" is invalid: metadata.name: Invalid value')
            self._require_namespace(res, namespace)
            key = self.key(res, namespace, name)
            if key in self.objects:
                raise ApiError(
                    409, "AlreadyExists", f'{res.plural} "{name}" already exists', {"name": name, "kind": res.plural}
                )
            if res.namespaced:
                meta["namespace"] = namespace
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
            obj.setdefault("apiVersion", res.group_version)
            obj.setdefault("kind", res.kind)
            if res.status:
                obj["status"] = obj.get("status") if res.kind == "Pod" else {}
            self._defaults(res, obj)
            self.owners[key] = {}
            take_ownership({}, obj, manager, self.owners[key])
            self._managed(key, obj, manager, "Update")
            out = self._store(res, key, obj, "ADDED")
        self._written()
        return out

    def get(self, res: Resource, namespace: str | None, name: str) -> Obj:
        with self.lock:
            found = self.objects.get(self.key(res, namespace, name))
            if found is None:
                raise self._missing(res, name)
            return copy.deepcopy(found)

    def list(self, res: Resource, namespace: str | None, selector: str | None) -> tuple[list[Obj], str]:
        tests = parse_selector(selector)
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (g, plural, ns, _), obj in sorted(self.objects.items())
                if (g, plural) == (res.group, res.plural)
                and (namespace is None or ns == namespace)
                and matches(obj, tests)
            ]
            return items, str(self.rv)

    def _update(self, res: Resource, key: Key, current: Obj, new: Obj, *, subresource: str | None) -> Obj:
        if subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = new.get("status") or {}
        else:
            result = new
            if res.status:
                result["status"] = copy.deepcopy(current.get("status") or {})
            for field in ("uid", "creationTimestamp", "generation", "namespace", "name", "managedFields"):
                if field in current["metadata"]:
                    result["metadata"][field] = current["metadata"][field]
            if _body(result) != _body(current):
                result["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
        result["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        if result == current:
            return copy.deepcopy(current)  # nothing changed: no new resourceVersion, no event
        return self._store(res, key, result, "MODIFIED")

    def replace(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        obj: Obj,
        manager: str = "unknown",
        subresource: str | None = None,
    ) -> Obj:
        with self.lock:
            key = self.key(res, namespace, name)
            current = self.objects.get(key)
            if current is None:
                raise self._missing(res, name)
            sent = (obj.get("metadata") or {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {res.plural} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "kind": res.plural},
                )
            new = copy.deepcopy(obj)
            new.setdefault("metadata", {})
            if subresource is None:
                take_ownership(current, new, manager, self.owners.setdefault(key, {}))
                self._managed(key, new, manager, "Update")
            out = self._update(res, key, current, new, subresource=subresource)
        self._written()
        return out

    def patch(
        self,
        res: Resource,
        namespace: str | None,
        name: str,
        body: Obj,
        content_type: str,
        manager: str | None,
        *,
        force: bool = False,
        subresource: str | None = None,
    ) -> Obj:
        with self.lock:
            key = self.key(res, namespace, name)
            current = self.objects.get(key)
            if "apply-patch" in content_type:
                if not manager:
                    raise ApiError(400, "BadRequest", "PATCH /apply requires a fieldManager")
                meta = body.get("metadata") or {}
                if meta.get("name") != name or body.get("kind") != res.kind:
                    raise ApiError(400, "BadRequest", "the name and kind of the applied object must match the URL")
                owners = self.owners.setdefault(key, {})
                if current is None:
                    if subresource:
                        raise self._missing(res, name)
                    self.owners.pop(key, None)
                    created = self.create(res, namespace, body, manager)
                    self.owners[key] = {}
                    server_side_apply(None, body, manager, self.owners[key], force=force)
                    stored = self.objects[key]
                    stored["metadata"]["managedFields"] = [
                        {
                            "manager": manager,
                            "operation": "Apply",
                            "apiVersion": body.get("apiVersion"),
                            "time": now(),
                            "fieldsType": "FieldsV1",
                            "fieldsV1": {},
                        }
                    ]
                    created["metadata"]["managedFields"] = stored["metadata"]["managedFields"]
                    return created
                try:
                    new = server_side_apply(current, body, manager, owners, force=force)
                except Conflict as exc:
                    listing = "; ".join(f'conflict with "{m}": .{".".join(p)}' for p, m in exc.conflicts[:5])
                    raise ApiError(
                        409, "Conflict", f"Apply failed with {len(exc.conflicts)} conflict(s): {listing}"
                    ) from None
                self._managed(key, new, manager, "Apply")
            else:
                if current is None:
                    raise self._missing(res, name)
                if "merge-patch" in content_type:
                    new = merge_patch(current, body)
                elif "strategic-merge-patch" in content_type:
                    new = merge(current, body)
                else:
                    raise ApiError(415, "UnsupportedMediaType", f"the fake does not support {content_type}")
                if subresource is None:
                    take_ownership(current, new, manager or "unknown", self.owners.setdefault(key, {}))
                    self._managed(key, new, manager or "unknown", "Update")
            out = self._update(res, key, current, new, subresource=subresource)
        self._written()
        return out

    def delete(self, res: Resource, namespace: str | None, name: str, propagation: str = "Background") -> Obj:
        with self.lock:
            key = self.key(res, namespace, name)
            current = self.objects.pop(key, None)
            if current is None:
                raise self._missing(res, name)
            self.owners.pop(key, None)
            self.kinds.pop(key, None)
            self._bump()
            self._record("DELETED", res, current)
            if res.kind == "Namespace":
                for other in [k for k in self.objects if k[2] == name]:
                    self._drop(other)
            elif propagation != "Orphan":
                self._cascade(current["metadata"]["uid"])
            else:
                for obj in self.objects.values():
                    refs = obj["metadata"].get("ownerReferences") or []
                    obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != current["metadata"]["uid"]]
        self._written()
        return current

    def _drop(self, key: Key) -> None:
        obj = self.objects.pop(key, None)
        res = self.kinds.pop(key, None)
        self.owners.pop(key, None)
        if obj is not None and res is not None:
            self._bump()
            self._record("DELETED", res, obj)
            self._cascade(obj["metadata"]["uid"])

    def _cascade(self, uid: str) -> None:
        for key in [
            k
            for k, o in self.objects.items()
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]:
            self._drop(key)

    def delete_collection(self, res: Resource, namespace: str | None, selector: str | None) -> list[Obj]:
        items, _ = self.list(res, namespace, selector)
        for obj in items:
            with contextlib.suppress(ApiError):
                self.delete(res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        return items

    def watch(
        self, res: Resource, namespace: str | None, selector: str | None, since: int, timeout: float
    ) -> Iterator[Obj]:
        """Events after resourceVersion ``since``, as they come, until ``timeout`` seconds pass."""
        tests = parse_selector(selector)
        deadline = time.monotonic() + timeout
        with self.lock:
            if self.events and since and since < self.events[0][0] - 1:
                raise ApiError(410, "Expired", f"too old resource version: {since} ({self.events[0][0]})")
        position = since
        while True:
            with self.lock:
                batch = [e for e in self.events if e[0] > position]
                if not batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self.changed.wait(min(remaining, 0.5))
                    continue
            for rv, group, plural, ns, kind, obj in batch:
                position = rv
                if (
                    (group, plural) == (res.group, res.plural)
                    and (namespace is None or ns == namespace)
                    and matches(obj, tests)
                ):
                    yield {"type": kind, "object": obj}

    # ------------------------------------------------------------------------------------ defaults

    def _defaults(self, res: Resource, obj: Obj) -> None:
        """The few defaults the API server fills in that Escadre reads back."""
        spec = obj.setdefault("spec", {}) if res.kind not in ("ConfigMap", "Secret", "Namespace", "Event") else None
        if res.kind == "Service" and spec is not None and spec.get("clusterIP") != "None":
            spec["clusterIP"] = f"10.96.{(self.rv // 250) % 250}.{self.rv % 250 + 1}"
            spec.setdefault("type", "ClusterIP")
        if res.kind == "Job" and spec is not None:
            uid = obj["metadata"]["uid"]
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
            labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
            labels.update(
                {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": obj["metadata"]["name"]}
            )
        if res.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
