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

# kind → (module, factory function, pip extra that provides its SDK)
KINDS: dict[str, tuple[str, str, str | None]] = {
    "docker": ("escadre.drivers.docker.driver", "from_target_config", None),
    "memory": ("escadre.drivers.memory", "from_target_config", None),
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
