"""A compiled yes/no check for the Compose schema: the fast path in front of ``jsonschema``.

``jsonschema`` interprets the schema for every value and builds an evaluation context per keyword; on a
100-service file that is most of the load time. Nearly every file we load is valid, so we first ask a
validator compiled into nested closures — for exactly the draft-07 keywords the Compose schema uses — and
only when it answers "not sure" do we run ``jsonschema`` to find and explain the error.

The contract that makes this safe: :func:`compile_schema` returns a function that answers ``True`` only
if ``jsonschema`` would accept the value. Whenever it cannot be certain (a keyword it does not know, a
unknown ``$ref``) it answers ``False``, which merely costs the slow path. A test compares
both validators on many mutated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

_IGNORED = {"$id", "$schema", "default", "deprecated", "description", "title", "definitions", "$comment"}


def _is_type(name: str) -> Check:
    if name == "object":
        return lambda v: isinstance(v, dict)
    if name == "array":
        return lambda v: isinstance(v, list)
    if name == "string":
        return lambda v: isinstance(v, str)
    if name == "boolean":
        return lambda v: isinstance(v, bool)
    if name == "null":
        return lambda v: v is None
    if name == "number":
        return lambda v: isinstance(v, int | float) and not isinstance(v, bool)
    if name == "integer":
        return lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    return lambda v: False


def _canonical(value: Any) -> Any:
    """A hashable key equal for values JSON Schema calls equal (``1 == 1.0``, ``True != 1``).

    Distinct values may share a key (huge integers rounding to the same float): that only makes
    ``uniqueItems`` fail here and sends the document to ``jsonschema``, which is the safe direction.
    """
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, list):
        return ("l", tuple(_canonical(v) for v in value))
    if isinstance(value, dict):
        return ("d", frozenset((k, _canonical(v)) for k, v in value.items()))
    return ("o", id(value))


def _unique(items: list[Any]) -> bool:
    keys = [_canonical(item) for item in items]
    return len(set(keys)) == len(keys)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer not in self.refs:
            if not pointer.startswith("#/"):
                return _never
            target: Any = self.root
            for part in pointer[2:].split("/"):
                target = target[part]
            holder: list[Check] = []

            def forward(value: Any) -> bool:  # the target may refer back to itself
                return holder[0](value)

            self.refs[pointer] = forward
            holder.append(self.compile(target))
        return self.refs[pointer]

    def compile(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return _always
        if schema is False or not isinstance(schema, dict):
            return _never
        checks: list[Check] = []
        for keyword in schema:
            if keyword in _IGNORED or keyword in ("properties", "patternProperties", "additionalProperties"):
                continue
            check = self.keyword(keyword, schema[keyword])
            if check is None:
                return _never  # unknown keyword: never claim validity
            checks.append(check)
        if any(k in schema for k in ("properties", "patternProperties", "additionalProperties")):
            checks.append(self.object_check(schema))
        if len(checks) == 1:
            return checks[0]
        return lambda v: all(c(v) for c in checks)

    def keyword(self, keyword: str, value: Any) -> Check | None:
        if keyword == "$ref":
            return self.ref(value)
        if keyword == "type":
            return _any_type([_is_type(n) for n in (value if isinstance(value, list) else [value])])
        if keyword == "enum":
            return _enum(list(value))
        if keyword == "required":
            return _required(list(value))
        if keyword == "items":
            return _items(self.compile(value)) if isinstance(value, dict | bool) else None
        if keyword == "uniqueItems":
            return _unique_items if value else _always
        if keyword == "oneOf":
            return _one_of([self.compile(s) for s in value])
        if keyword == "anyOf":
            return _any_of([self.compile(s) for s in value])
        if keyword == "pattern":
            return _pattern(re.compile(value))
        if keyword == "minimum":
            return _bound(value, minimum=True)
        if keyword == "maximum":
            return _bound(value, minimum=False)
        return None

    def object_check(self, schema: dict[str, Any]) -> Check:
        props = {k: self.compile(s) for k, s in schema.get("properties", {}).items()}
        patterns = [(re.compile(p), self.compile(s)) for p, s in schema.get("patternProperties", {}).items()]
        extra = schema.get("additionalProperties", True)
        extra_check = None if extra is True else self.compile(extra)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for key, item in value.items():
                matched = False
                prop = props.get(key)
                if prop is not None:
                    matched = True
                    if not prop(item):
                        return False
                for rx, sub in patterns:
                    if rx.search(key):
                        matched = True
                        if not sub(item):
                            return False
                if not matched and extra_check is not None and not extra_check(item):
                    return False
            return True

        return check


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _any_type(tests: list[Check]) -> Check:
    return lambda v: any(t(v) for t in tests)


def _enum(options: list[Any]) -> Check:
    return lambda v: any(_same(v, o) for o in options)


def _required(names: list[str]) -> Check:
    return lambda v: not isinstance(v, dict) or all(n in v for n in names)


def _items(item: Check) -> Check:
    return lambda v: not isinstance(v, list) or all(item(x) for x in v)


def _unique_items(value: Any) -> bool:
    return not isinstance(value, list) or _unique(value)


def _one_of(branches: list[Check]) -> Check:
    return lambda v: sum(1 for b in branches if b(v)) == 1


def _any_of(branches: list[Check]) -> Check:
    return lambda v: any(b(v) for b in branches)


def _pattern(rx: re.Pattern[str]) -> Check:
    return lambda v: not isinstance(v, str) or rx.search(v) is not None


def _bound(limit: float, *, minimum: bool) -> Check:
    if minimum:
        return lambda v: not _number(v) or v >= limit
    return lambda v: not _number(v) or v <= limit


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(value: Any, option: Any) -> bool:
    if isinstance(value, bool) or isinstance(option, bool):
        return isinstance(value, bool) and isinstance(option, bool) and value == option
    return bool(value == option)


def compile_schema(schema: Mapping[str, Any]) -> Check:
    """A function that returns ``True`` only for values ``schema`` accepts (see the module docstring)."""
    return _Compiler(schema).compile(dict(schema))
