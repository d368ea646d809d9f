"""Which driver serves which target kind, imported only when a target of that kind is used.

Keeping the SDK imports behind this table is what keeps ``escadre --help`` and ``escadre config`` fast
and lets a machine without, say, the Kubernetes client still deploy to Docker.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from escadre.core.errors import MissingExtraError, UsageError
from escadre.drivers.base import Driver
from escadre.drivers.support import KeySupport
from escadre.model.project import Project

# kind → (module, factory function, pip extra that provides its SDK)
KINDS: dict[str, tuple[str, str, str | None]] = {
    "docker": ("escadre.drivers.docker.driver", "from_target_config", None),
    "kubernetes": ("escadre.drivers.kubernetes.driver", "from_target_config", "kubernetes"),
    "memory": ("escadre.drivers.memory", "from_target_config", None),
    "swarm": ("escadre.drivers.swarm.driver", "from_target_config", None),
}

# kind → module holding ``render(project, options) -> str`` (a file the platform's own tool accepts)
RENDERERS: dict[str, str] = {
    "kubernetes": "escadre.drivers.kubernetes.render",
    "swarm": "escadre.drivers.swarm.render",
}

# kind → module holding ``TABLE`` (what the target does with each Compose key, see drivers.support)
SUPPORT: dict[str, str] = {
    "docker": "escadre.drivers.docker.support",
    "kubernetes": "escadre.drivers.kubernetes.support",
    "swarm": "escadre.drivers.swarm.support",
}


def known_kinds() -> list[str]:
    return sorted(KINDS)


def make_driver(name: str, kind: str, config: Mapping[str, Any]) -> Driver:
    """Instantiate the driver for a target; the SDK is imported here, not before."""
    if kind not in KINDS:
        raise UsageError(
            f"target {name!r} has unknown kind {kind!r}",
            hint=f"known kinds: {', '.join(known_kinds())}",
        )
    module_name, factory, extra = KINDS[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        pip = f"pip install 'escadre[{extra}]'" if extra else "pip install --force-reinstall escadre"
        raise MissingExtraError(f"the {kind} driver cannot be loaded: {exc}", hint=pip) from exc
    driver: Driver = getattr(module, factory)(name, config)
    return driver


def _load(module_name: str, kind: str, what: str) -> Any:
    extra = KINDS.get(kind, ("", "", None))[2]
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        pip = f"pip install 'escadre[{extra}]'" if extra else "pip install --force-reinstall escadre"
        raise MissingExtraError(f"the {kind} {what} cannot be loaded: {exc}", hint=pip) from exc


def render(kind: str, project: Project, options: Mapping[str, Any]) -> str:
    """Render ``project`` for a target kind (``escadre render KIND``)."""
    if kind not in RENDERERS:
        raise UsageError(f"nothing renders for {kind!r}", hint=f"renderable kinds: {', '.join(sorted(RENDERERS))}")
    text: str = _load(RENDERERS[kind], kind, "renderer").render(project, options)
    return text


def support_table(kind: str) -> Mapping[str, KeySupport]:
    """What a target kind does with each Compose key."""
    if kind not in SUPPORT:
        raise UsageError(f"no support table for {kind!r}", hint=f"known: {', '.join(sorted(SUPPORT))}")
    table: Mapping[str, KeySupport] = _load(SUPPORT[kind], kind, "support table").TABLE
    return table
