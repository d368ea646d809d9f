"""Escadre's built-in rules, one module per family; :data:`BUILTIN` lists them all in id order."""

from __future__ import annotations

from escadre.policy.model import Rule
from escadre.policy.rules import dockerfile, hardening, host, images, resources, secrets, targets

BUILTIN: tuple[Rule, ...] = tuple(
    sorted(
        [
            *hardening.RULES,
            *host.RULES,
            *resources.RULES,
            *images.RULES,
            *secrets.RULES,
            *dockerfile.RULES,
            *targets.RULES,
        ],
        key=lambda r: r.id,
    )
)

__all__ = ["BUILTIN"]
