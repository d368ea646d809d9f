"""Merge Compose documents (several ``-f`` files, or a service and the one it ``extends``).

The rules are those of the Compose Specification ("Merge and override") as implemented by
``docker compose`` (compose-go's ``override`` package), re-derived here:

* mappings merge recursively, the later file winning on scalars; sequences are appended;
* ``command``, ``entrypoint`` and ``healthcheck.test`` are replaced, never appended;
* ``ports``, ``volumes``, ``secrets``, ``configs`` are appended, and an entry that has the same identity as
  an earlier one (address for ports, container path for mounts) replaces it in place;
* ``environment``, ``labels``, ``annotations``, ``sysctls``, ``extra_hosts``, ``build.args``... are written
  either as lists or mappings; both sides become mappings and merge key by key;
* ``networks`` and ``depends_on`` lists become mappings and merge as such; a short ``build: .`` becomes
  ``{context: .}`` before merging with a long one;
* ``dns``, ``cap_add``, ``env_file``, ``tmpfs``, ``expose``... are appended without duplicates;
* ``logging`` merges only when both sides use the same driver (or one names none); otherwise it is replaced;
* a later ``null`` keeps the earlier value, except where the rule is "replace";
* ``!reset`` removes the value, ``!override`` replaces it without merging.

Every function takes and returns ``(data, positions)`` so that a merged key keeps the position of the
file that set it last. Inputs are never modified; unchanged subtrees are shared with the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from escadre.spec.coerce import to_str
from escadre.spec.locator import Key, LocNode
from escadre.spec.shortsyntax import parse_extra_host, port_key, volume_target
from escadre.spec.yamlsource import Override, Reset

Pair = tuple[Any, LocNode]
Merger = Callable[[Any, LocNode, Any, LocNode], Pair]
Rules = Mapping[str, "Merger | Rules"]


def clean(value: Any) -> Any:
    """``value`` with markers resolved as if nothing came before it (``!reset`` → gone)."""
    if isinstance(value, Override):
        return clean(value.value)
    if isinstance(value, dict):
        if not any(isinstance(v, Reset | Override | dict | list) for v in value.values()):
            return value
        return {k: clean(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        if not any(isinstance(v, Reset | Override | dict | list) for v in value):
            return value
        return [clean(v) for v in value if not isinstance(v, Reset)]
    return value


def _replace(_a: Any, _aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
    return clean(b), bloc


def merge_value(a: Any, aloc: LocNode, b: Any, bloc: LocNode, rules: Rules | None = None) -> Pair:
    """Generic merge: mappings recursively (with ``rules`` per key), lists appended, scalars replaced."""
    if isinstance(b, Override):
        return clean(b.value), bloc
    if b is None and a is not None:
        return a, aloc
    if isinstance(a, dict) and isinstance(b, dict):
        return merge_mapping(a, aloc, b, bloc, rules or {})
    if isinstance(a, list) and isinstance(b, list):
        return _append(a, aloc, clean(b), bloc)
    return clean(b), bloc


def merge_mapping(a: dict[str, Any], aloc: LocNode, b: dict[str, Any], bloc: LocNode, rules: Rules) -> Pair:
    out = dict(a)
    loc = bloc.with_children(dict(aloc.children))
    wildcard = rules.get("*")
    for key, value in b.items():
        if isinstance(value, Reset):
            out.pop(key, None)
            loc.children.pop(key, None)
            continue
        child = bloc.children.get(key, bloc)
        if key not in out or isinstance(value, Override):
            out[key] = clean(value)
            loc.children[key] = child
            continue
        rule = rules.get(key, wildcard)
        base_child = aloc.children.get(key, aloc)
        if callable(rule):
            merged, merged_loc = rule(out[key], base_child, value, child)
        else:
            merged, merged_loc = merge_value(out[key], base_child, value, child, rule)
        out[key] = merged
        loc.children[key] = merged_loc
    return out, loc


def _append(a: list[Any], aloc: LocNode, b: list[Any], bloc: LocNode) -> Pair:
    loc = bloc.with_children(dict(aloc.children))
    for index in range(len(b)):
        node = bloc.children.get(index)
        if node is not None:
            loc.children[len(a) + index] = node
    return a + b, loc


def _listify(value: Any, loc: LocNode) -> Pair:
    if isinstance(value, list):
        return value, loc
    return [value], loc.with_children({0: loc})


def unique_by(key_of: Callable[[Any], str]) -> Merger:
    """Append ``b`` to ``a``; an entry whose key was already seen replaces the earlier one in place."""

    def merge(a: Any, aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
        a, aloc = _listify(a, aloc)
        b, bloc = _listify(clean(b), bloc)
        items: list[Any] = []
        nodes: list[LocNode | None] = []
        index_of: dict[str, int] = {}
        for source, source_loc in ((a, aloc), (b, bloc)):
            for i, item in enumerate(source):
                key = key_of(item)
                node = source_loc.children.get(i)
                if key in index_of:
                    items[index_of[key]] = item
                    nodes[index_of[key]] = node
                else:
                    index_of[key] = len(items)
                    items.append(item)
                    nodes.append(node)
        loc = bloc.with_children({i: n for i, n in enumerate(nodes) if n is not None})
        return items, loc

    return merge


def _identity(item: Any) -> str:
    if isinstance(item, dict | list):
        return json.dumps(item, sort_keys=True, default=str)
    return to_str(item) if isinstance(item, str | int | float) else repr(item)


def mount_key(default_dir: str) -> Callable[[Any], str]:
    def key(item: Any) -> str:
        if isinstance(item, dict):
            target = item.get("target")
            if isinstance(target, str) and target:
                return target if target.startswith("/") else f"{default_dir}/{target}"
            return f"{default_dir}/{item.get('source')}"
        return f"{default_dir}/{item}"

    return key


def _env_file_key(item: Any) -> str:
    return str(item.get("path")) if isinstance(item, dict) else str(item)


def _as_map(value: Any, loc: LocNode, parse: Callable[[str], tuple[str, Any]]) -> Pair:
    """A list-or-mapping value as a mapping (positions re-keyed from index to name)."""
    if isinstance(value, dict):
        return value, loc
    if not isinstance(value, list):
        return value, loc
    out: dict[str, Any] = {}
    children: dict[Key, LocNode] = {}
    for index, item in enumerate(value):
        if isinstance(item, Reset | dict | list):
            continue
        name, entry = parse(to_str(clean(item)))
        out[name] = entry
        if index in loc.children:
            children[name] = loc.children[index]
    return out, loc.with_children(children)


def _kv_entry(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    return key, (value if sep else None)


def _host_entry(text: str) -> tuple[str, Any]:
    try:
        return parse_extra_host(text)
    except ValueError:
        return text, None


def _name_entry(text: str) -> tuple[str, Any]:
    return text, None


def _dependency_entry(text: str) -> tuple[str, Any]:
    return text, {"condition": "service_started", "required": True}


def as_mapping(parse: Callable[[str], tuple[str, Any]], rules: Rules | None = None) -> Merger:
    """Merge two list-or-mapping values as mappings."""

    def merge(a: Any, aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
        if b is None:
            return a, aloc
        a, aloc = _as_map(a, aloc, parse)
        b, bloc = _as_map(b, bloc, parse)
        if isinstance(a, dict) and isinstance(b, dict):
            return merge_mapping(a, aloc, b, bloc, rules or {})
        return clean(b), bloc

    return merge


def _merge_build(a: Any, aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
    if isinstance(a, str):
        a, aloc = {"context": a}, aloc.with_children({"context": aloc})
    if isinstance(b, str):
        b, bloc = {"context": b}, bloc.with_children({"context": bloc})
    return merge_value(a, aloc, b, bloc, BUILD_RULES)


def _merge_logging(a: Any, aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
    if isinstance(a, dict) and isinstance(b, dict):
        driver_a, driver_b = a.get("driver"), b.get("driver")
        if driver_a is None or driver_b is None or driver_a == driver_b:
            return merge_mapping(a, aloc, b, bloc, {})
    return merge_value(None, aloc, b, bloc)


def _merge_ulimit(a: Any, aloc: LocNode, b: Any, bloc: LocNode) -> Pair:
    if isinstance(a, dict) and isinstance(b, dict):
        return merge_mapping(a, aloc, b, bloc, {})
    return clean(b), bloc


def _ipam_key(item: Any) -> str:
    return str(item.get("subnet")) if isinstance(item, dict) else _identity(item)


_KV = as_mapping(_kv_entry)
_HOSTS = as_mapping(_host_entry)
_UNIQUE = unique_by(_identity)

BUILD_RULES: Rules = {
    "args": _KV,
    "labels": _KV,
    "additional_contexts": _KV,
    "extra_hosts": _HOSTS,
    "ssh": _KV,
    "cache_from": _UNIQUE,
    "cache_to": _UNIQUE,
    "tags": _UNIQUE,
    "platforms": _UNIQUE,
}

_APPEND_UNIQUE = (
    "dns",
    "dns_search",
    "dns_opt",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "expose",
    "external_links",
    "links",
    "security_opt",
    "profiles",
    "devices",
    "group_add",
    "volumes_from",
    "device_cgroup_rules",
)

SERVICE_RULES: Rules = {
    "command": _replace,
    "entrypoint": _replace,
    "healthcheck": {"test": _replace},
    "environment": _KV,
    "labels": _KV,
    "annotations": _KV,
    "sysctls": _KV,
    "extra_hosts": _HOSTS,
    "build": _merge_build,
    "deploy": {"labels": _KV},
    "logging": _merge_logging,
    "ulimits": {"*": _merge_ulimit},
    "networks": as_mapping(_name_entry),
    "depends_on": as_mapping(_dependency_entry),
    "ports": unique_by(port_key),
    "volumes": unique_by(volume_target),
    "secrets": unique_by(mount_key("/run/secrets")),
    "configs": unique_by(mount_key("")),
    "env_file": unique_by(_env_file_key),
    "label_file": _UNIQUE,
    **dict.fromkeys(_APPEND_UNIQUE, _UNIQUE),
}

_RESOURCE_RULES: Rules = {"*": {"labels": _KV}}
TOP_RULES: Rules = {
    "services": {"*": SERVICE_RULES},
    "networks": {"*": {"labels": _KV, "ipam": {"config": unique_by(_ipam_key)}}},
    "volumes": _RESOURCE_RULES,
    "secrets": _RESOURCE_RULES,
    "configs": _RESOURCE_RULES,
}


def merge_documents(base: dict[str, Any], base_loc: LocNode, over: dict[str, Any], over_loc: LocNode) -> Pair:
    """Merge the top level of ``over`` (a later ``-f`` file) into ``base``."""
    merged, loc = merge_mapping(base, base_loc, over, over_loc, TOP_RULES)
    # the top-level node keeps the first file's position
    return merged, base_loc.with_children(loc.children)


def merge_service(base: dict[str, Any], base_loc: LocNode, over: dict[str, Any], over_loc: LocNode) -> Pair:
    """Merge service ``over`` onto ``base`` (the service it extends)."""
    return merge_mapping(base, base_loc, over, over_loc, SERVICE_RULES)
