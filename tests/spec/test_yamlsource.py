from __future__ import annotations

import pytest

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.yamlsource import Override, Reset, parse_yaml

TEXT = """\
x-base: &base
  image: nginx:1
  restart: always
services:
  web:
    <<: *base
    restart: "no"
    ports:
      - "8080:80"
      - 443
"""


def test_positions_of_keys_values_and_items() -> None:
    parsed = parse_yaml(TEXT, "c.yaml")
    web = parsed.loc.find(("services", "web"))
    assert web is not None
    assert web.at == SourceLocation("c.yaml", 5, 3)
    restart = parsed.loc.find(("services", "web", "restart"))
    assert restart is not None
    assert (restart.at, restart.value) == (SourceLocation("c.yaml", 7, 5), SourceLocation("c.yaml", 7, 14))
    item = parsed.loc.find(("services", "web", "ports", 1))
    assert item is not None
    assert item.at == SourceLocation("c.yaml", 10, 9)


def test_merge_key_explicit_keys_win_and_merged_keys_point_at_the_anchor() -> None:
    parsed = parse_yaml(TEXT, "c.yaml")
    assert parsed.data["services"]["web"] == {"restart": "no", "ports": ["8080:80", 443], "image": "nginx:1"}
    image = parsed.loc.find(("services", "web", "image"))
    assert image is not None
    assert image.at == SourceLocation("c.yaml", 2, 3)


def test_merge_key_with_a_list_first_mapping_wins() -> None:
    text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n"
    assert parse_yaml(text, "f").data["c"] == {"x": 1, "y": 1, "z": 2}


def test_aliases_are_copies_not_shared_objects() -> None:
    parsed = parse_yaml("a: &x {k: [1]}\nb: *x\n", "f")
    assert parsed.data["a"] == parsed.data["b"]
    assert parsed.data["a"] is not parsed.data["b"]


def test_duplicate_key_is_an_error_at_the_second_key() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("services:\n  web:\n    image: a\n    image: b\n", "c.yaml")
    assert info.value.location == SourceLocation("c.yaml", 4, 5)
    assert info.value.message == "duplicate key 'image' in this mapping (first defined at line 3)"


def test_syntax_error_has_the_parser_position() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("services:\n  web:\n    image: a\n   ports: []\n", "c.yaml")
    assert info.value.location == SourceLocation("c.yaml", 4, 4)
    assert info.value.message.startswith("invalid YAML: ")


def test_scalars_follow_compose_not_yaml_1_1() -> None:
    data = parse_yaml("a: yes\nb: on\nc: true\nd: False\ne: 0755\nf: 2001-12-14\ng: ~\nh: 1.5\ni: '1'\n", "f").data
    assert data == {
        "a": "yes",
        "b": "on",
        "c": True,
        "d": False,
        "e": 493,
        "f": "2001-12-14",
        "g": None,
        "h": 1.5,
        "i": "1",
    }


def test_non_string_keys_become_strings() -> None:
    assert parse_yaml("80: a\ntrue: b\n", "f").data == {"80": "a", "true": "b"}


def test_reset_and_override_markers() -> None:
    parsed = parse_yaml("a: !reset []\nb: !override [1, '2']\nc: !override 8080\n", "f")
    assert parsed.has_markers
    assert parsed.data == {"a": Reset(), "b": Override([1, "2"]), "c": Override(8080)}


def test_plain_file_has_no_markers() -> None:
    assert not parse_yaml("a: 1\n", "f").has_markers


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("a: !Ref x\n", "unsupported YAML tag '!Ref'", 1),
        ("", "the file is empty", 0),
        ("- a\n- b\n", "the top level of a Compose file must be a mapping (services:, networks:, ...)", 1),
        ("? [a]\n: b\n", "a mapping key must be a plain value, not a list or mapping", 1),
        ("a: &a [*a]\n", "a YAML alias refers to a node that contains it (recursive structure)", 1),
        ("a: 1\n---\nb: 2\n", "invalid YAML: but found another document (expected a single document in the stream)", 2),
    ],
)
def test_invalid_documents(text: str, message: str, line: int) -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "f.yaml")
    assert info.value.message == message
    assert info.value.location is not None
    assert info.value.location.line == line


def test_alias_bomb_is_refused() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 7):
        ref = "a" if i == 1 else f"l{i - 1}"
        lines.append(f"l{i}: &l{i} [*{ref}, *{ref}, *{ref}, *{ref}, *{ref}, *{ref}, *{ref}, *{ref}, *{ref}]")
    with pytest.raises(SpecError, match="alias bomb"):
        parse_yaml("\n".join(lines) + "\n", "f")
