"""Server-side apply, merge patches and field ownership — the subset of the API server's semantics that
Escadre's driver relies on.

* An object is flattened into *leaf paths*: map keys, associative-list elements identified by their merge
  key (``containers[name=web]``, ``ports[containerPort=80]``, ``env[name=A]``…), atomic lists and scalars.
* Each field manager owns a set of leaf paths. **Apply** by manager M: a leaf another manager owns with a
  different value is a conflict (409) unless ``force``, which transfers ownership; leaves M owned before and
  no longer applies are *removed* (unless someone else owns them); the applied configuration is merged in;
  M now owns exactly what it applied. **Update** (PUT, merge patch) takes ownership of what it changed,
  without conflicts.
* Merging follows strategic-merge rules for the lists above and replaces every other list.

Not simulated: ``managedFields`` contents (only manager names and operations are listed), list-map keys
with several fields (``ports`` use one key), ``x-kubernetes-map-type: atomic`` maps (all maps are granular).
"""

from __future__ import annotations

import copy
from typing import Any

Path = tuple[str, ...]

LIST_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
}


def list_key(field: str, items: list[Any]) -> str | None:
    """The merge key of list ``field``, or ``None`` for an atomic list."""
    if not items or not all(isinstance(i, dict) for i in items):
        return None
    key = LIST_KEYS.get(field)
    if key is None and field == "ports":
        key = "containerPort" if "containerPort" in items[0] else "port"
    if key is None or not all(key in i for i in items):
        return None
    return key


def leaves(obj: Any, path: Path = ()) -> dict[Path, Any]:
    out: dict[Path, Any] = {}
    if isinstance(obj, dict):
        if not obj and path:
            out[path] = {}
        for k, v in obj.items():
            if isinstance(v, list):
                key = list_key(k, v)
                if key is None:
                    out[(*path, k)] = v
                else:
                    for item in v:
                        out.update(leaves(item, (*path, k, f"[{key}={item[key]}]")))
            else:
                out.update(leaves(v, (*path, k)))
        return out
    out[path] = obj
    return out


def _element(items: list[Any], component: str) -> tuple[int, dict[str, Any]] | None:
    key, _, value = component[1:-1].partition("=")
    for index, item in enumerate(items):
        if isinstance(item, dict) and str(item.get(key)) == value:
            return index, item
    return None


def get_path(obj: Any, path: Path) -> Any:
    node = obj
    for part in path:
        if part.startswith("[") and isinstance(node, list):
            found = _element(node, part)
            if found is None:
                return None
            node = found[1]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


def delete_path(obj: dict[str, Any], path: Path) -> None:
    """Remove the field at ``path``; removing an element's merge key removes the whole element."""
    parents: list[Any] = [obj]
    node: Any = obj
    for part in path[:-1]:
        if part.startswith("[") and isinstance(node, list):
            found = _element(node, part)
            if found is None:
                return
            node = found[1]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return
        parents.append(node)
    last = path[-1]
    if len(path) >= 2 and path[-2].startswith("[") and path[-2][1:].split("=", 1)[0] == last:
        lst = parents[-2]
        found = _element(lst, path[-2])
        if found is not None:
            lst.pop(found[0])
        return
    if isinstance(node, dict):
        node.pop(last, None)


def merge(base: Any, overlay: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for k, v in overlay.items():
            out[k] = merge(base[k], v, k) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(overlay, list):
        key = list_key(field, overlay) or (list_key(field, base) if not overlay else None)
        if key is not None and all(isinstance(i, dict) and key in i for i in base):
            out_list = [copy.deepcopy(i) for i in base]
            for item in overlay:
                found = _element(out_list, f"[{key}={item[key]}]")
                if found is None:
                    out_list.append(copy.deepcopy(item))
                else:
                    out_list[found[0]] = merge(found[1], item, "")
            return out_list
    return copy.deepcopy(overlay)


def merge_patch(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class Conflict(Exception):
    def __init__(self, conflicts: list[tuple[Path, str]]) -> None:
        super().__init__(conflicts)
        self.conflicts = conflicts


def server_side_apply(
    current: dict[str, Any] | None,
    config: dict[str, Any],
    manager: str,
    owners: dict[str, set[Path]],
    *,
    force: bool,
) -> dict[str, Any]:
    """The object after ``manager`` applies ``config``; ``owners`` is updated in place."""
    applied = {p: v for p, v in leaves(config).items() if p[:1] not in (("status",),)}
    if current is None:
        owners[manager] = set(applied)
        return copy.deepcopy(config)
    existing = leaves(current)
    conflicts = [
        (p, other)
        for p, v in applied.items()
        for other, owned in owners.items()
        if other != manager and p in owned and existing.get(p) != v and p[:1] != ("metadata",)
    ]
    if conflicts and not force:
        raise Conflict(conflicts)
    # force makes the applier the sole owner of the conflicting fields; equal values are shared
    taken = {p for p, _ in conflicts}
    for other, owned in owners.items():
        if other != manager:
            owned.difference_update(taken)
    others: set[Path] = set().union(*(o for m, o in owners.items() if m != manager)) if owners else set()
    result = copy.deepcopy(current)
    for p in sorted(owners.get(manager, set()) - set(applied) - others, key=len, reverse=True):
        delete_path(result, p)
    result = merge(result, config)
    owners[manager] = set(applied)
    return result


def take_ownership(before: dict[str, Any], after: dict[str, Any], manager: str, owners: dict[str, set[Path]]) -> None:
    """An update by ``manager``: it now owns every leaf it changed (and keeps what it had)."""
    old, new = leaves(before), leaves(after)
    changed = {p for p, v in new.items() if old.get(p) != v and p[:1] != ("status",)}
    for other, owned in owners.items():
        if other != manager:
            owned.difference_update(changed)
    owners.setdefault(manager, set()).update(changed)
