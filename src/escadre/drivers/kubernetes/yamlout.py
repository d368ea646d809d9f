"""A small YAML writer for Kubernetes objects: fast, block style, and unambiguous.

PyYAML's representer walks every value through several Python layers (its C emitter does not help
there) and was half of rendering a 100-service project. The objects ``translate`` builds only hold
dicts, lists, strings, integers, floats, booleans and ``None``, so this writer handles exactly those:

* a string is written plain only when YAML (1.1 *and* 1.2) cannot read it as anything else — it starts
  with a letter, ``_`` or ``/``, holds only ``[A-Za-z0-9_./@:-]``, does not end with ``:`` and is not a
  boolean/null word (``yes``, ``off``, ``null``…); multi-line text is a literal block (``|``) when it
  can be; anything else is double-quoted with JSON's escapes, which YAML reads identically;
* keys keep their order (apiVersion, kind, metadata, spec — as kubectl shows them).

A test round-trips every rendered fixture and a corpus of awkward strings through ``yaml.safe_load``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@:-]*")
_WORDS = {"y", "yes", "n", "no", "true", "false", "on", "off", "null"}
_BLOCK_UNSAFE = re.compile(r"[\r\t\x00-\x08\x0b-\x1f\x7f\u0085\u2028\u2029\ufeff]")


def _string(text: str) -> str:
    if _PLAIN.fullmatch(text) and not text.endswith(":") and text.lower() not in _WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} as YAML")


def _block(text: str, indent: int) -> str | None:
    """A literal block for multi-line text, or ``None`` when one cannot carry it exactly."""
    if "\n" not in text or _BLOCK_UNSAFE.search(text) or text[:1] in (" ", "\n"):
        return None
    lines = text.split("\n")
    if any(line != line.rstrip(" ") for line in lines):
        return None
    if text.endswith("\n\n"):
        chomp, body = "+", lines[:-1]
    elif text.endswith("\n"):
        chomp, body = "", lines[:-1]
    else:
        chomp, body = "-", lines
    pad = " " * indent
    return "|" + chomp + "\n" + "".join((pad + line if line else "") + "\n" for line in body)


def _value(value: Any, indent: int, out: list[str], prefix: str) -> None:
    """Write ``value`` after ``prefix`` (``key:`` or ``-``) at ``indent``."""
    pad = " " * indent
    if isinstance(value, dict) and value:
        out.append(f"{pad}{prefix}\n")
        _mapping(value, indent + 2, out)
    elif isinstance(value, list) and value:
        out.append(f"{pad}{prefix}\n")
        _sequence(value, indent, out)
    elif isinstance(value, dict):
        out.append(f"{pad}{prefix} {{}}\n")
    elif isinstance(value, list):
        out.append(f"{pad}{prefix} []\n")
    elif isinstance(value, str) and (block := _block(value, indent + 2)) is not None:
        out.append(f"{pad}{prefix} {block}")
    else:
        out.append(f"{pad}{prefix} {_scalar(value)}\n")


def _mapping(mapping: dict[Any, Any], indent: int, out: list[str]) -> None:
    for key, value in mapping.items():
        _value(value, indent, out, f"{_string(str(key))}:")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, dict | list) and item:
            nested: list[str] = []
            if isinstance(item, dict):
                _mapping(item, indent + 2, nested)
            else:
                _sequence(item, indent + 2, nested)
            nested[0] = pad + "- " + nested[0][indent + 2 :]
            out.extend(nested)
        else:
            _value(item, indent, out, "-")


def dump_all(objects: Iterable[dict[str, Any]]) -> str:
    """Every object as its own ``---`` document."""
    out: list[str] = []
    for obj in objects:
        out.append("---\n")
        _mapping(obj, 0, out)
    return "".join(out)
