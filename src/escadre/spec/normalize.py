"""The merged raw document → the canonical Compose document of the project.

Services are normalized by :mod:`escadre.spec.normalize_service`; this module does the top level and
what ties services to it:

* every network, volume, secret and config gets its platform ``name``: ``<project>_<key>``, or the
  ``name:`` given, or the key itself for ``external`` resources (which the platform already holds);
* the legacy ``external: {name: x}`` form becomes ``external: true`` + ``name: x``;
* a secret or config has exactly one source (``file``, ``environment``, ``content`` for configs, or
  ``external``), and ``file`` becomes an absolute path;
* a ``default`` network is added when some service uses it and the file does not define it — like
  Compose, unused top-level networks and volumes are kept;
* the top-level ``version`` is dropped (obsolete), ``name`` is set to the project name, ``x-*`` kept.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from escadre.spec.coerce import list_or_dict, to_bool, to_str
from escadre.spec.context import Norm
from escadre.spec.locator import Path
from escadre.spec.normalize_service import normalize_service

_SECTIONS = ("networks", "volumes", "secrets", "configs")
_NETWORK_BOOLS = ("internal", "attachable", "enable_ipv6", "enable_ipv4")


def normalize_document(norm: Norm, raw: dict[str, Any], services: Iterable[str]) -> dict[str, Any]:
    """Canonical document with only ``services`` (the enabled ones) in it."""
    norm.top = raw
    out: dict[str, Any] = {"name": norm.project}
    raw_services = raw.get("services") or {}
    out["services"] = {name: normalize_service(norm, name, raw_services[name]) for name in services}
    for section in _SECTIONS:
        entries = raw.get(section) or {}
        out[section] = {key: _resource(norm, section, key, spec) for key, spec in entries.items()}
    uses_default = any("default" in (svc.get("networks") or {}) for svc in out["services"].values())
    if uses_default and "default" not in out["networks"]:
        out["networks"]["default"] = {"name": f"{norm.project}_default"}
    for key, value in raw.items():
        if key.startswith("x-"):
            out[key] = value
    return out


def _resource(norm: Norm, section: str, key: str, spec: Any) -> dict[str, Any]:
    path: Path = (section, key)
    entry: dict[str, Any] = dict(spec or {})
    external = entry.get("external", False)
    if isinstance(external, dict):
        if "name" in external:
            norm.warn(f"{section}.{key}: 'external.name' is deprecated; use 'name' with 'external: true'")
            entry["name"] = external["name"]
        external = True
    external = norm.convert((*path, "external"), to_bool, external)
    entry.pop("external", None)
    if external:
        entry["external"] = True
        entry.setdefault("name", key)
    else:
        entry.setdefault("name", f"{norm.project}_{key}")
    entry["name"] = to_str(entry["name"])
    if "labels" in entry:
        node = norm.node((*path, "labels"))
        labels = norm.convert((*path, "labels"), lambda v: list_or_dict(v, node, none_value=False), entry["labels"])
        entry["labels"] = {k: v or "" for k, v in labels.items()}
    if isinstance(entry.get("driver_opts"), dict):
        entry["driver_opts"] = {k: to_str(v) for k, v in entry["driver_opts"].items()}
    if section == "networks":
        for flag in _NETWORK_BOOLS:
            if flag in entry:
                entry[flag] = norm.convert((*path, flag), to_bool, entry[flag])
    if section in ("secrets", "configs"):
        _file_source(norm, section, key, entry)
    return entry


def _file_source(norm: Norm, section: str, key: str, entry: dict[str, Any]) -> None:
    kind = section[:-1]
    options = ("file", "environment", "content") if section == "configs" else ("file", "environment")
    sources = [name for name in options if name in entry]
    if entry.get("external"):
        if sources:
            raise norm.error((section, key, sources[0]), f"an external {kind} cannot also set {sources[0]!r}")
        return
    if not sources:
        raise norm.error(
            (section, key),
            f"{kind} {key!r} needs a source: one of {', '.join(options)}, or external: true",
        )
    if len(sources) > 1:
        raise norm.error((section, key, sources[1]), f"{kind} {key!r} sets both {sources[0]!r} and {sources[1]!r}")
    if "file" in entry:
        entry["file"] = norm.host_path(to_str(entry["file"]))
