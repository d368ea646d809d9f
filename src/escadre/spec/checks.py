"""Profiles and the checks that need the whole project: references between services, cycles, files.

Schema validation sees one file at a time and cannot know that ``depends_on: [cache]`` names a service
that is only enabled by a profile, or that two services wait for each other. These checks run on the
canonical document, after normalization, and every error points at the reference that is wrong.

Profiles follow Compose: a service without ``profiles`` is always enabled; one with ``profiles`` only
when one of them is active (``*`` activates all). A dependency on a disabled service is an error naming
the profile to add, unless the dependency is ``required: false``, in which case it is dropped with a
warning.

``check_files`` covers what lives on the machine running Escadre: secret and config files, variables
named by ``environment:`` secrets, build contexts and Dockerfiles. Bind-mount sources are not checked:
for a remote target they live on another host, and Compose creates missing ones anyway.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Collection, Mapping
from typing import Any

from escadre.spec.context import Norm
from escadre.spec.paths import is_remote


def enabled_services(services: Mapping[str, Any], active: Collection[str]) -> list[str]:
    """Names of the services enabled by the ``active`` profiles, in file order."""
    everything = "*" in active
    out = []
    for name, spec in services.items():
        profiles = spec.get("profiles") if isinstance(spec, dict) else None
        if not profiles or everything or any(p in active for p in profiles):
            out.append(name)
    return out


def _service_ref(value: Any) -> str | None:
    """``service:db`` (network_mode, pid, ipc) → ``db``."""
    if isinstance(value, str) and value.startswith("service:"):
        return value.split(":", 1)[1]
    return None


def check_references(norm: Norm, doc: dict[str, Any], all_services: Mapping[str, Any]) -> None:
    services: dict[str, Any] = doc["services"]
    for name, svc in services.items():
        deps: dict[str, Any] = svc.get("depends_on") or {}
        for dep in list(deps):
            path = ("services", name, "depends_on", dep)
            if dep in services:
                continue
            if dep in all_services:
                profiles = all_services[dep].get("profiles") or []
                if not deps[dep].get("required", True):
                    norm.warn(f"service {name!r}: optional dependency {dep!r} is disabled by profiles; ignored")
                    del deps[dep]
                    continue
                listed = ", ".join(repr(p) for p in profiles)
                flags = " ".join(f"--profile {p}" for p in profiles[:1])
                raise norm.error(
                    path,
                    f"service {name!r} depends on {dep!r}, which is only in profile(s) {listed}: add {flags}",
                    hint=f"or add {name!r} to the same profile, or make the dependency 'required: false'",
                )
            raise _unknown(norm, path, f"service {name!r} depends on undefined service {dep!r}", dep, all_services)
        refs: list[tuple[tuple[str | int, ...], str]] = []
        for index, link in enumerate(svc.get("links") or []):
            refs.append((("services", name, "links", index), link.split(":", 1)[0]))
        for index, source in enumerate(svc.get("volumes_from") or []):
            if not source.startswith("container:"):
                refs.append((("services", name, "volumes_from", index), source.split(":", 1)[0]))
        for key in ("network_mode", "pid", "ipc"):
            target = _service_ref(svc.get(key))
            if target is not None:
                refs.append((("services", name, key), target))
        for ref_path, target in refs:
            if target not in services:
                what = "disabled by profiles" if target in all_services else "not defined"
                raise _unknown(norm, ref_path, f"refers to service {target!r}, which is {what}", target, services)
    _check_cycles(norm, services)


def _unknown(norm: Norm, path: tuple[str | int, ...], message: str, name: str, known: Mapping[str, Any]) -> Any:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else None
    return norm.error(path, message, hint=hint)


def _check_cycles(norm: Norm, services: Mapping[str, Any]) -> None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for dep in services[name].get("depends_on") or {}:
            if dep not in services:
                continue
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise norm.error(
                    ("services", cycle[0], "depends_on", cycle[1]),
                    f"dependency cycle: {' → '.join(cycle)}",
                    hint="services cannot wait for each other; remove one of these depends_on entries",
                )
            if dep not in state:
                visit(dep)
        stack.pop()
        state[name] = 2

    for name in services:
        if name not in state:
            visit(name)


def check_services(norm: Norm, doc: dict[str, Any]) -> None:
    for name, svc in doc["services"].items():
        if "image" not in svc and "build" not in svc:
            raise norm.error(
                ("services", name),
                f"service {name!r} has neither 'image' nor 'build'",
                hint="add 'image: <name:tag>' or 'build: <directory>'",
            )
        replicas = (svc.get("deploy") or {}).get("replicas", 1)
        if svc.get("container_name") and replicas > 1:
            raise norm.error(
                ("services", name, "container_name"),
                f"a fixed container_name cannot be used with {replicas} replicas (names must be unique)",
                hint="remove container_name, or set deploy.replicas to 1",
            )


def check_files(norm: Norm, doc: dict[str, Any]) -> None:
    for section in ("secrets", "configs"):
        for key, entry in doc[section].items():
            kind = section[:-1]
            if "file" in entry and not os.path.exists(entry["file"]):
                raise norm.error(
                    (section, key, "file"),
                    f"{kind} {key!r}: file {_shown(norm, section, key)} not found",
                    hint=f"create it, or point 'file:' at the existing {kind}",
                )
            if "environment" in entry and entry["environment"] not in norm.variables:
                raise norm.error(
                    (section, key, "environment"),
                    f"{kind} {key!r}: variable {entry['environment']} is not set",
                    hint=f"export {entry['environment']}=... or add it to .env",
                )
    for name, svc in doc["services"].items():
        build = svc.get("build")
        if not isinstance(build, dict) or is_remote(build["context"]):
            continue
        path = ("services", name, "build")
        context = build["context"]
        if not os.path.isdir(context):
            raise norm.error(
                path,
                f"build context {context} is not a directory",
                hint="create it, or fix 'build.context' (relative to the project directory)",
            )
        dockerfile = build.get("dockerfile")
        if dockerfile and "dockerfile_inline" not in build:
            full = dockerfile if os.path.isabs(dockerfile) else os.path.join(context, dockerfile)
            if not os.path.isfile(full):
                raise norm.error(
                    path,
                    f"Dockerfile {full} not found",
                    hint="add it, or set 'build.dockerfile' (relative to the context)",
                )


def _shown(norm: Norm, section: str, key: str) -> str:
    """The ``file:`` value as the user wrote it, when the raw document still has it."""
    raw = norm.top.get(section, {}).get(key, {})
    written = raw.get("file") if isinstance(raw, dict) else None
    return str(written) if written else "?"
