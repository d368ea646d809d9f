"""A service's ``environment``, built from ``env_file`` contents and ``environment`` entries.

Order, as in Compose: the ``env_file`` files in order (a later file wins), then ``environment`` on top. A
bare ``KEY`` in ``environment`` takes the value from the variables (real environment, then ``.env``); when
unset there it keeps the ``env_file`` value if any, and is ``None`` (unset in the container) otherwise.
A missing ``env_file`` is an error unless it is marked ``required: false``. Files are read with the
project's variables for ``${VAR}`` substitution; ``format: raw`` files are taken verbatim.
"""

from __future__ import annotations

import os
from typing import Any

from escadre.spec.coerce import list_or_dict, to_bool
from escadre.spec.context import Norm
from escadre.spec.envfile import read_env_file
from escadre.spec.locator import Path
from escadre.spec.paths import display_path


def env_files(norm: Norm, path: Path, value: Any) -> list[dict[str, Any]]:
    items = [value] if isinstance(value, str) else list(value)
    out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        entry: dict[str, Any] = {"path": item, "required": True} if isinstance(item, str) else dict(item)
        entry["path"] = norm.host_path(entry["path"])
        item_path = (*path, index) if not isinstance(value, str) else path
        entry["required"] = norm.convert(item_path, to_bool, entry.get("required", True))
        if entry.get("format") not in (None, "raw"):
            raise norm.error(
                item_path, f"unsupported env_file format {entry['format']!r} (Escadre reads dotenv and raw)"
            )
        out.append(entry)
    return out


def resolve_environment(norm: Norm, base: Path, raw: dict[str, Any], out: dict[str, Any]) -> None:
    """Build ``environment`` from ``env_file`` contents (first) and ``environment`` (wins)."""
    from_files: dict[str, str] = {}
    for index, entry in enumerate(out.get("env_file") or []):
        item_path = (*base, "env_file") if isinstance(raw.get("env_file"), str) else (*base, "env_file", index)
        if not os.path.isfile(entry["path"]):
            if entry["required"]:
                raise norm.error(
                    item_path,
                    f"env file {entry['path']} not found",
                    hint="create it, or mark it optional with {path: ..., required: false}",
                )
            continue
        from_files.update(
            read_env_file(
                entry["path"],
                display_path(entry["path"]),
                norm.variables.get,
                raw=entry.get("format") == "raw",
                at=norm.at(item_path),
            )
        )
    if "environment" not in raw and not from_files:
        return
    node = norm.node((*base, "environment"))
    declared = norm.convert((*base, "environment"), lambda v: list_or_dict(v, node), raw.get("environment"))
    environment: dict[str, str | None] = dict(from_files)
    for key, value in declared.items():
        if value is None:
            looked_up = norm.variables.get(key)
            if looked_up is not None or key not in environment:
                environment[key] = looked_up
        else:
            environment[key] = value
    out["environment"] = environment


def resolve_label_files(norm: Norm, base: Path, out: dict[str, Any]) -> None:
    """Merge ``label_file`` contents (``KEY=VALUE`` lines, read like env files) under ``labels``."""
    files = out.get("label_file") or []
    if not files:
        return
    from_files: dict[str, str] = {}
    for index, path in enumerate(files):
        item_path = (*base, "label_file", index)
        from_files.update(read_env_file(path, display_path(path), norm.variables.get, raw=True, at=norm.at(item_path)))
    out["labels"] = {**from_files, **(out.get("labels") or {})}
