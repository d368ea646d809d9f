"""Durations and byte sizes as the Compose Specification writes them.

Compose durations are Go-style (``1m30s``, ``500ms``, ``2h``, ``10us``); a bare number means seconds.
Byte sizes are ``{amount}{unit}`` with units ``b k kb m mb g gb`` (powers of 1024, case-insensitive);
a bare number means bytes. Both parsers raise ``ValueError`` with a message fit for a spec error; the
spec layer adds the file location.
"""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b?|[kmgt]i?b?)?\s*$", re.IGNORECASE)
_BYTE_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_duration(value: str | int | float) -> float:
    """Return seconds for a Compose duration (``"1m30s"`` → 90.0; ``10`` → 10.0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like '30s' or '1m30s', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use a number with a unit, like '500ms', '30s', '1m30s' or '2h'")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds back in Compose style (``90.0`` → ``"1m30s"``; ``0.5`` → ``"500ms"``)."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    rest = seconds - whole
    hours, whole = divmod(whole, 3600)
    minutes, secs = divmod(whole, 60)
    out = ""
    if hours:
        out += f"{hours}h"
    if minutes:
        out += f"{minutes}m"
    if secs or rest or not out:
        out += f"{secs + rest:g}s"
    return out


def parse_bytes(value: str | int | float) -> int:
    """Return a byte count for a Compose byte size (``"1gb"`` → 1073741824; ``"512m"``; ``1024``)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a byte size like '512m' or '1gb', got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a byte size cannot be negative: {value!r}")
        return int(value)
    match = _BYTES.match(value)
    if not match:
        raise ValueError(f"invalid byte size {value!r}: use a number with a unit b, k, m or g (like '512m')")
    unit = (match.group(2) or "").lower().replace("i", "")
    unit = unit[:-1] if unit.endswith("b") and len(unit) == 2 else unit
    return int(float(match.group(1)) * _BYTE_UNITS[unit])


def parse_cpus(value: str | int | float) -> float:
    """Return a CPU count (``"0.5"`` → 0.5)."""
    try:
        cpus = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"invalid CPU amount {value!r}: use a number such as 0.5 or 2") from None
    if cpus < 0:
        raise ValueError(f"a CPU amount cannot be negative: {value!r}")
    return cpus
