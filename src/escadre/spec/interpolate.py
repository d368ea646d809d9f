"""``${VAR}`` substitution in Compose values, with the exact forms ``docker compose`` accepts.

Supported: ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
``${VAR?error}``, ``${VAR:+replacement}``, ``${VAR+replacement}``, and ``$$`` for a literal ``$``.
Defaults, errors and replacements may themselves contain substitutions (``${A:-${B:-x}}``); they are only
evaluated when used, so ``${A:-${B:?set A or B}}`` fails only when neither is set.

A ``$`` followed by anything else is an error, as in ``docker compose``: silently keeping ``$1`` would
make a shell script in ``command:`` behave differently under Escadre than under Compose. The error says to
write ``$$``.

Interpolation runs per file, on values only (never keys), after YAML parsing and before the schema
check, so ``replicas: ${N}`` is validated as the string it became. Unset variables become ``""`` and
are reported once each as a warning, the way Compose does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from escadre.core.errors import SpecError
from escadre.spec.locator import LocNode, Path, format_path
from escadre.spec.yamlsource import Override

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")

Lookup = Callable[[str], str | None]


class TemplateError(ValueError):
    """A malformed or failing template; the caller adds the location."""


class Interpolator:
    """Substitutes variables from ``lookup``; records unset names in ``missing`` (first-seen order)."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.missing: dict[str, None] = {}

    def substitute(self, text: str) -> str:
        if "$" not in text:
            return text
        out, _ = self._scan(text, 0, closing=False)
        return out

    # The scanner returns (result, index after the consumed text). With ``closing`` it stops at the
    # ``}`` that ends the enclosing ``${...}`` (nested ``${`` pairs are consumed whole on the way).
    def _scan(self, text: str, pos: int, *, closing: bool) -> tuple[str, int]:
        parts: list[str] = []
        n = len(text)
        while pos < n:
            ch = text[pos]
            if closing and ch == "}":
                return "".join(parts), pos
            if ch != "$":
                nxt = _next_special(text, pos, closing)
                parts.append(text[pos:nxt])
                pos = nxt
                continue
            if pos + 1 >= n:
                raise TemplateError("a '$' at the end of a value must be written '$$'")
            follow = text[pos + 1]
            if follow == "$":
                parts.append("$")
                pos += 2
            elif follow == "{":
                value, pos = self._braced(text, pos + 2)
                parts.append(value)
            else:
                match = _NAME.match(text, pos + 1)
                if not match:
                    raise TemplateError(
                        f"invalid use of '$' in {text!r}: write '$$' for a literal dollar sign, "
                        "or $NAME / ${NAME} for a variable"
                    )
                parts.append(self._value(match.group()))
                pos = match.end()
        if closing:
            raise TemplateError(f"unclosed '${{' in {text!r}")
        return "".join(parts), pos

    def _braced(self, text: str, pos: int) -> tuple[str, int]:
        match = _NAME.match(text, pos)
        if not match:
            end = text.find("}", pos)
            shown = text[pos:end] if end >= 0 else text[pos:]
            raise TemplateError(f"invalid variable name {shown!r} in {text!r}")
        name = match.group()
        pos = match.end()
        if pos >= len(text):
            raise TemplateError(f"unclosed '${{' in {text!r}")
        if text[pos] == "}":
            return self._value(name), pos + 1
        operator = next((op for op in _OPERATORS if text.startswith(op, pos)), None)
        if operator is None:
            raise TemplateError(f"invalid character {text[pos]!r} after ${{{name} in {text!r}")
        start = pos + len(operator)
        current = self.lookup(name)
        empty_counts = operator.startswith(":")
        unset = current is None or (empty_counts and current == "")
        if operator in (":-", "-"):
            if unset:
                return self._argument(text, start)
            return current or "", _skip(text, start)
        if operator in (":?", "?"):
            if unset:
                message, _ = self._argument(text, start)
                detail = f": {message}" if message else ""
                raise TemplateError(f"required variable {name} is missing a value{detail}")
            return current or "", _skip(text, start)
        # ":+" / "+": the replacement when set, nothing otherwise
        if unset:
            return "", _skip(text, start)
        return self._argument(text, start)

    def _argument(self, text: str, pos: int) -> tuple[str, int]:
        value, end = self._scan(text, pos, closing=True)
        return value, end + 1

    def _value(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            self.missing.setdefault(name)
            return ""
        return value


def _next_special(text: str, pos: int, closing: bool) -> int:
    dollar = text.find("$", pos)
    end = dollar if dollar >= 0 else len(text)
    if closing:
        brace = text.find("}", pos, end)
        if brace >= 0:
            return brace
    return end


def _skip(text: str, pos: int) -> int:
    """Index after the ``}`` closing an argument that is not used (still checked for balance)."""
    depth = 0
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == "$" and pos + 1 < n and text[pos + 1] in "${":
            if text[pos + 1] == "{":
                depth += 1
            pos += 2
            continue
        if ch == "}":
            if depth == 0:
                return pos + 1
            depth -= 1
        pos += 1
    raise TemplateError(f"unclosed '${{' in {text!r}")


def interpolate_tree(data: Any, loc: LocNode, interpolator: Interpolator, path: Path = ()) -> Any:
    """Return ``data`` with every string value substituted (containers are updated in place)."""
    if isinstance(data, str):
        if "$" not in data:
            return data
        try:
            return interpolator.substitute(data)
        except TemplateError as exc:
            raise SpecError(f"{format_path(path)}: {exc}", location=loc.value) from None
    if isinstance(data, dict):
        for key, value in data.items():
            child = loc.children.get(key, loc)
            if isinstance(value, str | dict | list | Override):
                data[key] = interpolate_tree(value, child, interpolator, (*path, key))
        return data
    if isinstance(data, list):
        for index, value in enumerate(data):
            if isinstance(value, str | dict | list | Override):
                data[index] = interpolate_tree(value, loc.children.get(index, loc), interpolator, (*path, index))
        return data
    if isinstance(data, Override):
        return Override(interpolate_tree(data.value, loc, interpolator, path))
    return data


def missing_warnings(interpolator: Interpolator) -> list[str]:
    return [f'The "{name}" variable is not set. Defaulting to a blank string.' for name in interpolator.missing]
