"""Generates ``docs/compose-support.md`` from the drivers' support tables.

    python -m escadre.drivers.support_docs > docs/compose-support.md

A test fails when the committed page differs from what this prints.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from escadre.drivers.support import KeySupport, markdown

TABLES = {
    "docker": "escadre.drivers.docker.support",
    "swarm": "escadre.drivers.swarm.support",
    "kubernetes": "escadre.drivers.kubernetes.support",
}

HEADER = """# Compose support per target

What each target does with every key of the Compose Specification. **Nothing is dropped silently**:
when a file uses a key a target does not fully honour, `escadre up` prints a warning naming the key
(`--strict` refuses to deploy instead), and keys marked ❌ are refused with an error.

✅ honoured · ≈ approximated (how is said) · ⚠️ ignored (with a warning) · ❌ rejected (an error)

This page is generated from the drivers' tables (`python -m escadre.drivers.support_docs`); a test keeps
it in sync with the code.
"""


def all_keys() -> tuple[list[str], list[str]]:
    """Service keys (from the official schema) and the top-level keys the tables know."""
    schema = json.loads((Path(__file__).parents[1] / "spec" / "compose-spec.json").read_text())
    service_keys = sorted(schema["definitions"]["service"]["properties"])
    return [f"services.*.{k}" for k in service_keys], []


def tables() -> dict[str, dict[str, KeySupport]]:
    return {name: dict(importlib.import_module(module).TABLE) for name, module in TABLES.items()}


def render() -> str:
    per_target = tables()
    service_keys, _ = all_keys()
    expanded: list[str] = []
    for key in service_keys:
        expanded.append(key)
        subkeys = sorted({k for t in per_target.values() for k in t if k.startswith(key + ".")})
        expanded.extend(subkeys)
    top = sorted({k for t in per_target.values() for k in t if not k.startswith("services.")})
    return (
        HEADER
        + "\n## Services\n\n"
        + markdown(per_target, expanded)
        + "\n## Networks, volumes, secrets, configs\n\n"
        + markdown(per_target, top)
    )


if __name__ == "__main__":
    print(render(), end="")
