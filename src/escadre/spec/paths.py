"""Relative paths in Compose files, and what they are relative to.

In the files given with ``-f`` every relative path (build context, bind mount source, ``env_file``,
secret and config ``file``) is relative to the *project directory*, whatever file it is written in: an
override file is a fragment of the same project. Two features bring in files whose paths mean something
else, and for those we make paths absolute *before* merging, so that the normalizer never has to know
where a value came from:

* ``extends: {file: ../common/base.yaml}`` — paths in the extended service are relative to that file;
* ``include:`` — paths in an included project are relative to its own project directory.
"""

from __future__ import annotations

import os
from typing import Any

from escadre.spec.shortsyntax import is_bind_source

_REMOTE_PREFIXES = ("http://", "https://", "git://", "git@", "github.com/", "ssh://")


def is_remote(location: str) -> bool:
    """A build context or additional context that is a URL or git reference, not a directory."""
    return location.startswith(_REMOTE_PREFIXES) or "://" in location


def resolve(base_dir: str, path: str) -> str:
    """``path`` made absolute against ``base_dir`` (``~`` is left for the normalizer to expand)."""
    if os.path.isabs(path) or path.startswith("~"):
        return path
    return os.path.normpath(os.path.join(base_dir, path))


def _short_volume(entry: str, base_dir: str) -> str:
    source, sep, rest = entry.partition(":")
    if sep and is_bind_source(source) and not source.startswith(("/", "~")):
        return f"{resolve(base_dir, source)}:{rest}"
    return entry


def _env_files(value: Any, base_dir: str) -> Any:
    if isinstance(value, str):
        return resolve(base_dir, value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            if isinstance(item, str):
                out.append(resolve(base_dir, item))
            elif isinstance(item, dict) and isinstance(item.get("path"), str):
                out.append({**item, "path": resolve(base_dir, item["path"])})
            else:
                out.append(item)
        return out
    return value


def _build(value: Any, base_dir: str) -> Any:
    if isinstance(value, str):
        return value if is_remote(value) else resolve(base_dir, value)
    if not isinstance(value, dict):
        return value
    build = dict(value)
    context = build.get("context", ".")
    if isinstance(context, str) and not is_remote(context):
        build["context"] = resolve(base_dir, context)
    contexts = build.get("additional_contexts")
    if isinstance(contexts, dict):
        build["additional_contexts"] = {
            k: resolve(base_dir, v) if isinstance(v, str) and not _is_context_ref(v) else v for k, v in contexts.items()
        }
    return build


def _is_context_ref(value: str) -> bool:
    return is_remote(value) or value.startswith(("docker-image://", "service:", "target:", "oci-layout://"))


def absolutize_service(service: dict[str, Any], base_dir: str) -> dict[str, Any]:
    """A copy of raw ``service`` whose relative paths are resolved against ``base_dir``."""
    out = dict(service)
    if "build" in out:
        out["build"] = _build(out["build"], base_dir)
    if "env_file" in out:
        out["env_file"] = _env_files(out["env_file"], base_dir)
    if isinstance(out.get("label_file"), str | list):
        out["label_file"] = _env_files(out["label_file"], base_dir)
    volumes = out.get("volumes")
    if isinstance(volumes, list):
        resolved: list[Any] = []
        for item in volumes:
            if isinstance(item, str):
                resolved.append(_short_volume(item, base_dir))
            elif isinstance(item, dict) and item.get("type") == "bind" and isinstance(item.get("source"), str):
                resolved.append({**item, "source": resolve(base_dir, item["source"])})
            else:
                resolved.append(item)
        out["volumes"] = resolved
    return out


def absolutize_document(data: dict[str, Any], base_dir: str) -> dict[str, Any]:
    """A copy of a whole raw document with service and secret/config paths resolved against ``base_dir``."""
    out = dict(data)
    services = out.get("services")
    if isinstance(services, dict):
        out["services"] = {
            name: absolutize_service(svc, base_dir) if isinstance(svc, dict) else svc for name, svc in services.items()
        }
    for section in ("secrets", "configs"):
        entries = out.get(section)
        if isinstance(entries, dict):
            out[section] = {
                name: {**entry, "file": resolve(base_dir, entry["file"])}
                if isinstance(entry, dict) and isinstance(entry.get("file"), str)
                else entry
                for name, entry in entries.items()
            }
    return out


def display_path(path: str) -> str:
    """How a file is named in messages: relative to the working directory when below it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # pragma: no cover - different drive on Windows
        return path
    return path if relative.startswith("..") else relative
