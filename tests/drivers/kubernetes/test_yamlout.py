"""The YAML writer: whatever it writes, ``yaml.safe_load`` reads back as exactly the same objects."""

from __future__ import annotations

import random
from typing import Any

import pytest
import yaml

from escadre.drivers.kubernetes.render import render
from escadre.drivers.kubernetes.yamlout import dump_all
from tests.drivers.kubernetes.helpers import EXAMPLES, fixture_names, load_example, load_fixture

AWKWARD = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "OFF",
    "null",
    "~",
    "true",
    "y",
    "N",
    "1",
    "1.0",
    "0x1f",
    "1e3",
    ".5",
    ".inf",
    "1:20",
    "12:30:00",
    "-c",
    "- x",
    "a: b",
    "a:",
    "a #b",
    "#x",
    "*ref",
    "&anchor",
    "!tag",
    "%dir",
    "@at",
    "`tick",
    "'single'",
    '"double"',
    "{x}",
    "[x]",
    "a,b",
    "?q",
    "|",
    ">",
    "tab\there",
    "line\nnext",
    "ends\n",
    "two\n\n",
    " lead",
    "trail ",
    "inner  space",
    "ünïcode",
    "emoji 🚀",
    "back\\slash",
    "nul\x00",
    "cr\r\nlf",
    "\nleading newline",
    "line one\n  indented\nlast",
    "2024-01-01",
    "0755",
    "+1",
    "-1",
    "=",
    "<<",
    "Yes please",
    "registry.example.com/shop/api:2.1.0",
    "/run/secrets/db",
    "escadre.dev/compose-path",
    "api@sha256:abc",
]


def roundtrip(objects: list[dict[str, Any]]) -> None:
    assert list(yaml.safe_load_all(dump_all(objects))) == objects


def test_awkward_strings_as_values_and_keys() -> None:
    roundtrip([{"values": AWKWARD, "keys": {s or "empty": s for s in AWKWARD}, "nested": [[1, [2, "x"]], [], {}]}])
    roundtrip([{s: {"v": s} for s in AWKWARD if s}])


def test_scalars_of_every_type() -> None:
    roundtrip([{"i": 0, "n": -7, "f": 0.25, "t": True, "f2": False, "z": None, "big": 2**40, "s": "1"}])


def test_random_structures() -> None:
    rng = random.Random(3)

    def make(depth: int) -> Any:
        choice = rng.random()
        if depth > 3 or choice < 0.4:
            return rng.choice([*AWKWARD, 0, 1, -2, True, False, None, 1.5])
        if choice < 0.7:
            return {rng.choice(AWKWARD[1:]) + str(i): make(depth + 1) for i in range(rng.randrange(4))}
        return [make(depth + 1) for _ in range(rng.randrange(4))]

    for _ in range(200):
        roundtrip([{"root": make(0)}])


@pytest.mark.parametrize("name", fixture_names())
def test_every_rendered_fixture_reads_back(name: str) -> None:
    text = render(load_fixture(name), {})
    docs = [d for d in yaml.safe_load_all(text) if d]
    assert dump_all(docs) == text[text.index("---") :]


def test_rendered_examples_read_back() -> None:
    for files in EXAMPLES:
        text = render(load_example(files), {})
        docs = [d for d in yaml.safe_load_all(text) if d]
        assert dump_all(docs) == text[text.index("---") :]
