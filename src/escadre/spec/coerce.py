"""Turn loosely typed Compose values into the types the canonical document uses.

The schema lets most numeric and boolean fields also be strings, because ``replicas: ${N}`` is a string
after interpolation. These helpers do the cast ``docker compose`` does after interpolation, and convert the
"list or mapping" shapes (``environment``, ``labels``, ``sysctls``...) to mappings. They raise
``ValueError`` with a user-facing message; the caller adds the path and location.
"""

from __future__ import annotations

from typing import Any

from escadre.spec.locator import LocNode

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected true or false, got {value!r}")


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ValueError(f"expected a whole number, got {value!r}")


def to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a number, got {value!r}")


def to_str(value: Any) -> str:
    """A scalar as Compose writes it in a string context (``true`` not ``True``, ``1`` not ``1.0``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"expected a plain value, got {type(value).__name__}")


def to_mode(value: Any) -> int:
    """A file mode: a YAML number (``0440`` is already octal there) or an octal string ``"0440"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text, 8)
        except ValueError:
            pass
    raise ValueError(f"expected a file mode such as 0440, got {value!r}")


def str_list(value: Any) -> list[str]:
    """A string-or-list value as a list of strings (``dns: 8.8.8.8`` → ``["8.8.8.8"]``)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [to_str(v) for v in value]
    return [to_str(value)]


def list_or_dict(
    value: Any,
    loc: LocNode | None = None,
    *,
    separator: str = "=",
    none_value: bool = True,
) -> dict[str, str | None]:
    """``["A=1", "B"]`` or ``{A: 1, B: null}`` → ``{"A": "1", "B": None}``.

    With ``loc`` the position tree is re-keyed to match (list index → key). ``none_value=False`` turns
    a bare ``B`` into ``""`` (labels: a label without value is the empty string).
    """
    out: dict[str, str | None] = {}
    if value is None:
        return out
    if isinstance(value, dict):
        for key, item in value.items():
            out[str(key)] = None if item is None else to_str(item)
            if item is None and not none_value:
                out[str(key)] = ""
        return out
    if not isinstance(value, list):
        raise ValueError(f"expected a list or a mapping, got {type(value).__name__}")
    rekey: dict[int | str, int | str] = {}
    for index, item in enumerate(value):
        text = to_str(item)
        key, sep, rest = text.partition(separator)
        if not key:
            raise ValueError(f"entry {text!r} has no name before {separator!r}")
        out[key] = rest if sep else (None if none_value else "")
        rekey[index] = key
    if loc is not None:
        loc.rekey(rekey)
    return out
