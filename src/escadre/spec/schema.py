"""Check a Compose file against the official Compose Specification JSON schema, with plain-words errors.

Each file is validated on its own, after interpolation and before merging, as ``docker compose`` does:
an override file is held to the same schema, and a value built from ``${VAR}`` is checked as what it
became. ``compose-spec.json`` is the unmodified upstream schema (see ``compose-spec.SOURCE``); the
draft-07 validator is built once per process, on first use. A compiled yes/no check
(:mod:`escadre.spec.fastschema`) runs first; ``jsonschema`` only runs to explain a file that fails it.

jsonschema reports many errors, most of them consequences of one mistake (a ``oneOf`` of three shapes
fails three ways). We report exactly one: the most relevant one according to
:func:`jsonschema.exceptions.best_match`, then refined — inside a ``oneOf`` we follow the branch whose
type matches the value, because "``bogus`` is not allowed in a port mapping" helps more than "not valid
under any of the given schemas". The message names the dotted path, says what is wrong, and suggests
the closest known key for a misspelt one.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from escadre.core.errors import SpecError
from escadre.spec.fastschema import Check, compile_schema
from escadre.spec.locator import LocNode, Path, format_path, key_location
from escadre.spec.yamlsource import Override, Reset

if TYPE_CHECKING:
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean (true or false)",
    "null": "null",
}


@cache
def compose_schema() -> dict[str, Any]:
    text = resources.files("escadre.spec").joinpath("compose-spec.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft7Validator:
    # jsonschema is only needed to explain a file the fast compiled check rejected
    from jsonschema import Draft7Validator

    return Draft7Validator(compose_schema())


@cache
def _fast_check() -> Check:
    return compile_schema(compose_schema())


def describe_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _words(types: list[str]) -> str:
    names = [_TYPE_WORDS.get(t, t) for t in dict.fromkeys(types)]
    if "a number" in names and "an integer" in names:
        names.remove("an integer")
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def strip_markers(data: Any) -> Any:
    """A copy of ``data`` as the schema should see it: ``!reset`` values dropped, ``!override`` unwrapped."""
    if isinstance(data, Override):
        return strip_markers(data.value)
    if isinstance(data, dict):
        return {k: strip_markers(v) for k, v in data.items() if not isinstance(v, Reset)}
    if isinstance(data, list):
        return [strip_markers(v) for v in data if not isinstance(v, Reset)]
    return data


def validate(data: dict[str, Any], loc: LocNode, *, has_markers: bool = False) -> None:
    """Raise one :class:`SpecError` describing the most relevant schema violation in ``data``."""
    instance = strip_markers(data) if has_markers else data
    if _fast_check()(instance):
        return
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(instance))
    if error is None:
        return
    raise _translate(_refine(error), loc)


def _refine(error: ValidationError) -> ValidationError:
    """Inside ``oneOf``/``anyOf``, descend into the branch that fits the value's type, if exactly one."""
    while error.validator in ("oneOf", "anyOf") and error.context:
        wrong_type = {e.schema_path[0] for e in error.context if e.validator == "type" and not e.relative_path}
        fitting = [e for e in error.context if e.schema_path and e.schema_path[0] not in wrong_type]
        branches = {e.schema_path[0] for e in fitting}
        if len(branches) != 1:
            return error
        branch = next(iter(branches))
        from jsonschema.exceptions import best_match

        candidate = best_match(e for e in fitting if e.schema_path and e.schema_path[0] == branch)
        if candidate is None:
            return error
        error = candidate
    return error


def _translate(error: ValidationError, loc: LocNode) -> SpecError:
    path: Path = tuple(error.absolute_path)
    where = key_location(loc, path)
    name = format_path(path)
    kind = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    value = error.instance
    hint: str | None = None
    if kind == "additionalProperties" and isinstance(value, dict):
        extras = _unknown_keys(value, schema)
        key = extras[0] if extras else "?"
        where = key_location(loc, (*path, key))
        known = sorted(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        if known:
            message = f"unknown key {key!r}"
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            else:
                hint = "allowed keys: " + ", ".join(known) + "; custom keys must start with 'x-'"
        elif patterns and patterns != ["^x-"]:
            message = f"invalid name {key!r}: use only letters, digits, '.', '_' and '-'"
        else:
            message = f"unknown key {key!r}"
    elif kind == "type":
        expected = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        message = f"expected {_words([str(t) for t in expected])}, got {describe_type(value)}"
    elif kind in ("oneOf", "anyOf"):
        types = [
            str(t)
            for sub in error.context or []
            if sub.validator == "type" and not sub.relative_path
            for t in (sub.validator_value if isinstance(sub.validator_value, list) else [sub.validator_value])
        ]
        if types:
            message = f"expected {_words(types)}, got {describe_type(value)}"
        else:
            message = f"{_short(value)} is not a valid value here"
    elif kind == "enum":
        choices = ", ".join(str(c) for c in cast(list[Any], error.validator_value))
        message = f"must be one of {choices}, not {_short(value)}"
    elif kind == "required":
        missing = re.findall(r"'([^']*)' is a required property", error.message)
        message = f"missing required key {missing[0]!r}" if missing else error.message
    elif kind == "uniqueItems":
        dupes = _duplicates(value) if isinstance(value, list) else []
        message = "contains duplicate entries" + (f": {', '.join(_short(d) for d in dupes)}" if dupes else "")
    elif kind == "pattern":
        message = f"{_short(value)} is not valid here (must match {error.validator_value})"
    elif kind in ("minimum", "maximum"):
        word = "at least" if kind == "minimum" else "at most"
        message = f"must be {word} {error.validator_value}, not {_short(value)}"
    else:
        message = error.message
    return SpecError(f"{name}: {message}", location=where, hint=hint)


def _unknown_keys(value: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    props = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in value if k not in props and not any(p.search(k) for p in patterns)]


def _duplicates(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    dupes: list[Any] = []
    for item in items:
        if item in seen and item not in dupes:
            dupes.append(item)
        seen.append(item)
    return dupes


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
