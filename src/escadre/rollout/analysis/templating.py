"""``{{placeholders}}`` in provider strings: one analysis template serves every app and revision.

A Prometheus query such as ``sum(rate(http_requests_total{revision="{{revision}}",code=~"5.."}[1m]))``
is written once and measured against the canary and, in baseline mode, against the stable revision:
``{{revision}}`` and ``{{role}}`` change with the role being measured. The syntax is deliberately tiny
(``{{name}}``, optional spaces inside, no filters nor logic) so a PromQL label matcher's single braces
never collide with it, and an unknown name is an error that names it rather than an empty string that
silently matches nothing — an empty match would be *no data* and pause the rollout for no reason.

Values are inserted verbatim: they come from Escadre (names, revision ids) or from the user's own
``args``, and escaping them for one language (PromQL, URLs) would be wrong for the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from escadre.core.errors import UserError

if TYPE_CHECKING:
    from escadre.model.settings import Metric
    from escadre.rollout.analysis.model import Role, Target

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
BUILTIN = ("app", "service", "revision", "role", "canary_revision", "stable_revision")


class TemplateError(UserError):
    """A provider string uses a placeholder that has no value."""


def placeholders(text: str) -> list[str]:
    """The names used in ``text``, in order of appearance, without duplicates."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(text)))


def known_names(args: Mapping[str, str]) -> list[str]:
    return [*BUILTIN, *(f"args.{name}" for name in args)]


def unknown(text: str, args: Mapping[str, str]) -> list[str]:
    known = set(known_names(args))
    return [name for name in placeholders(text) if name not in known]


def describe_unknown(names: list[str], args: Mapping[str, str]) -> str:
    shown = ", ".join("{{" + n + "}}" for n in names)
    known = ", ".join("{{" + n + "}}" for n in known_names(args))
    return f"unknown placeholder{'s' if len(names) > 1 else ''} {shown} (known: {known})"


def args_hint(names: list[str]) -> str | None:
    missing = [n.removeprefix("args.") for n in names if n.startswith("args.")]
    if not missing:
        return None
    return "give the analysis step its arguments: args: {" + ", ".join(f"{n}: ..." for n in missing) + "}"


def values_for(target: Target, role: Role) -> dict[str, str | None]:
    """Placeholder values when measuring ``role``; ``None`` marks a name known but without value."""
    values: dict[str, str | None] = {
        "app": target.app,
        "service": target.service,
        "revision": target.revision(role),
        "role": role,
        "canary_revision": target.canary_revision,
        "stable_revision": target.stable_revision,
    }
    values.update({f"args.{name}": value for name, value in target.args.items()})
    return values


def render(text: str, values: Mapping[str, str | None]) -> str:
    """Replace every placeholder; raise ``TemplateError`` naming the unknown or empty ones."""
    missing = [name for name in placeholders(text) if name not in values]
    if missing:
        args = {k.removeprefix("args."): "" for k in values if k.startswith("args.")}
        raise TemplateError(f"{describe_unknown(missing, args)} in {text!r}", hint=args_hint(missing))
    empty = [name for name in placeholders(text) if values[name] is None]
    if empty:
        shown = ", ".join("{{" + n + "}}" for n in empty)
        raise TemplateError(f"{shown} has no value here (there is no stable revision) in {text!r}")
    return PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def templated_fields(metric: Metric) -> list[tuple[str, str]]:
    """The strings of ``metric``'s provider that may hold placeholders, with their key for messages."""
    provider = metric.provider
    if provider.prometheus is not None:
        return [("prometheus.query", provider.prometheus.query)]
    if provider.webhook is not None:
        return [("webhook.url", provider.webhook.url)]
    if provider.http is not None:
        return [("http.path", provider.http.path)]
    return []
