"""Managing targets: named places to deploy to, with how to reach them.

A target's config holds connection settings and *references* to credentials (file paths, kubeconfig
contexts), never the credentials themselves.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from escadre.core.errors import UsageError
from escadre.drivers.base import TargetInfo
from escadre.operations.context import DEFAULT_TARGET, Context, TargetSpec
from escadre.state.store import TargetRecord

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


def add_target(
    ctx: Context, name: str, kind: str, config: Mapping[str, Any], *, check: bool = True, replace: bool = False
) -> tuple[TargetRecord, TargetInfo | None]:
    """Register a target; with ``check`` connect first so a typo fails now, not at deploy time."""
    from escadre.drivers.registry import known_kinds, make_driver

    if not _NAME.match(name):
        raise UsageError(
            f"invalid target name {name!r}",
            hint="use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    if name == DEFAULT_TARGET:
        raise UsageError(
            f"{DEFAULT_TARGET!r} is the built-in target (the local engine, or DOCKER_HOST)",
            hint="pick another name for this target",
        )
    if kind not in known_kinds():
        raise UsageError(f"unknown target kind {kind!r}", hint=f"known kinds: {', '.join(known_kinds())}")
    clean = {k: v for k, v in config.items() if v not in (None, "", False)}
    info = None
    if check:
        driver = make_driver(name, kind, clean)
        try:
            info = driver.info()
        finally:
            driver.close()
    record = ctx.store.add_target(name, kind, clean, replace=replace)
    ctx.store.add_event("target.added", f"target {name} ({kind}) added", actor=ctx.actor, data={"target": name})
    return record, info


def list_targets(ctx: Context) -> list[TargetSpec]:
    return [ctx.target_spec(DEFAULT_TARGET), *(TargetSpec(t.name, t.kind, t.config) for t in ctx.store.list_targets())]


def remove_target(ctx: Context, name: str) -> None:
    if not ctx.store.remove_target(name):
        raise UsageError(f"no target named {name!r}", hint="see escadre target list")
    ctx.store.add_event("target.removed", f"target {name} removed", actor=ctx.actor, data={"target": name})
