"""The rule registry: built-in rules and packs, plus rules and packs that plugins add.

A **pack** selects rules: ``baseline`` (the default) is hand-picked — real risks, with few false alarms
on an ordinary application; ``restricted`` is every rule; the benchmark packs (``cis-docker``,
``pss-baseline``, ``pss-restricted``, ``nsa``) select the rules that map to their controls, so they grow
with the rule set by themselves.

**Plugins** register through the Python entry-point group ``escadre.policy``. An entry point may name a
:class:`~escadre.policy.model.Rule`, a :class:`Pack`, a list of them, or a function taking the
:class:`Registry` (which can then call ``add_rule``/``add_pack``). :func:`load_plugins` does that, and
tests call it with objects directly, which is the same code path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from escadre.core.errors import UsageError
from escadre.policy.model import Rule, RuleKind

log = logging.getLogger("escadre.policy")

ENTRY_POINT_GROUP = "escadre.policy"
DEFAULT_PACKS: tuple[str, ...] = ("baseline",)


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    description: str
    rules: frozenset[str] = frozenset()
    """Rule ids it selects explicitly (custom packs)."""
    select: Callable[[Rule], bool] | None = field(default=None, compare=False, repr=False)
    """Or a predicate over rules (built-in packs)."""

    def includes(self, rule: Rule) -> bool:
        if rule.id in self.rules or self.name in rule.packs:
            return True
        return self.select(rule) if self.select is not None else False


def _pss(level: str) -> Callable[[Rule], bool]:
    levels = ("baseline/",) if level == "baseline" else ("baseline/", "restricted/")
    return lambda rule: any(control.startswith(levels) for control in rule.refs.pss)


BUILTIN_PACKS: tuple[Pack, ...] = (
    Pack("baseline", "The default: real risks (escapes, leaked credentials, missing limits) with few false alarms."),
    Pack("restricted", "Every rule: hardened, least-privilege services.", select=lambda rule: True),
    Pack(
        "cis-docker",
        "The rules that check CIS Docker Benchmark v1.6.0 recommendations.",
        select=lambda r: bool(r.refs.cis),
    ),
    Pack("pss-baseline", "The Kubernetes Pod Security Standards, baseline profile.", select=_pss("baseline")),
    Pack("pss-restricted", "The Kubernetes Pod Security Standards, restricted profile.", select=_pss("restricted")),
    Pack("nsa", "The NSA/CISA Kubernetes Hardening Guidance v1.2 controls.", select=lambda r: bool(r.refs.nsa)),
)


class Registry:
    """Rules by id and packs by name. One is built per process (:func:`default_registry`); tests build
    their own to add rules without touching it."""

    def __init__(self, rules: Iterable[Rule] = (), packs: Iterable[Pack] = ()) -> None:
        self.rules: dict[str, Rule] = {}
        self.packs: dict[str, Pack] = {}
        for rule in rules:
            self.add_rule(rule)
        for pack in packs:
            self.add_pack(pack)

    def add_rule(self, rule: Rule) -> None:
        if rule.id in self.rules and self.rules[rule.id] is not rule:
            raise UsageError(f"policy rule {rule.id} is defined twice", hint="give custom rules their own id prefix")
        self.rules[rule.id] = rule

    def add_pack(self, pack: Pack) -> None:
        self.packs[pack.name] = pack

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise UsageError(f"unknown policy rule {rule_id!r}", hint="escadre check --list-rules") from None

    def check_packs(self, names: Iterable[str]) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(names))
        unknown = [n for n in chosen if n not in self.packs]
        if unknown:
            raise UsageError(
                f"unknown policy pack(s): {', '.join(unknown)}",
                hint=f"known packs: {', '.join(sorted(self.packs))}",
            )
        return chosen

    def select(self, packs: Iterable[str], kinds: Iterable[RuleKind] | None = None) -> list[Rule]:
        """The rules any of ``packs`` includes, of the given kinds, in id order."""
        chosen = [self.packs[name] for name in self.check_packs(packs)]
        wanted = set(kinds) if kinds is not None else None
        return [
            rule
            for rule in sorted(self.rules.values(), key=lambda r: r.id)
            if (wanted is None or rule.kind in wanted) and any(p.includes(rule) for p in chosen)
        ]

    def load(self, item: object) -> None:
        """Register what a plugin provides: a rule, a pack, a list of them, or ``fn(registry)``."""
        if isinstance(item, Rule):
            self.add_rule(item)
        elif isinstance(item, Pack):
            self.add_pack(item)
        elif isinstance(item, list | tuple | set | frozenset):
            for element in item:
                self.load(element)
        elif callable(item):
            item(self)
        else:
            raise UsageError(f"a policy plugin gave {type(item).__name__}, not a Rule, a Pack or a function")

    def copy(self) -> Registry:
        return Registry(self.rules.values(), self.packs.values())


def builtin_registry() -> Registry:
    from escadre.policy.rules import BUILTIN

    return Registry(BUILTIN, BUILTIN_PACKS)


def load_plugins(registry: Registry, items: Iterable[object] | None = None) -> Registry:
    """Add plugin rules and packs to ``registry``: ``items`` when given (tests), else every entry point of
    the ``escadre.policy`` group. A plugin that fails to load is an error naming it."""
    if items is not None:
        for item in items:
            registry.load(item)
        return registry
    from importlib.metadata import entry_points

    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = point.load()
        except Exception as exc:
            raise UsageError(
                f"the policy plugin {point.name} ({point.value}) cannot be loaded: {exc}",
                hint=f"fix or uninstall the package that declares the {ENTRY_POINT_GROUP!r} entry point",
            ) from exc
        log.debug("policy plugin %s loaded from %s", point.name, point.value)
        registry.load(loaded)
    return registry


_DEFAULT: list[Registry] = []


def default_registry() -> Registry:
    """The built-in rules and packs plus every installed plugin (built once per process)."""
    if not _DEFAULT:
        _DEFAULT.append(load_plugins(builtin_registry()))
    return _DEFAULT[0]
