from __future__ import annotations

import pytest

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.envfile import parse_env

from .conftest import Project, where


def parse(text: str, env: dict[str, str] | None = None, **kwargs: bool) -> dict[str, str]:
    return parse_env(text, ".env", (env or {}).get, **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1", {"A": "1"}),
        ("A = 1 ", {"A": "1"}),
        ("export A=1", {"A": "1"}),
        ("# comment\n\nA=1\n  # indented comment", {"A": "1"}),
        ("A=b #comment", {"A": "b"}),
        ("A=b#not-a-comment", {"A": "b#not-a-comment"}),
        ("A=", {"A": ""}),
        ("A='lit $HOME \\n'", {"A": "lit $HOME \\n"}),
        ("A='x' # c", {"A": "x"}),
        ('A="a\\nb\\tc\\"d\\\\e"', {"A": 'a\nb\tc"d\\e'}),
        ('A="multi\nline"\nB=2', {"A": "multi\nline", "B": "2"}),
        ("A='multi\nline'", {"A": "multi\nline"}),
        ('A="say \\$HOME"', {"A": "say $HOME"}),
        ("A=1\nB=${A}2\nC=\"${A}3\"\nD='${A}'", {"A": "1", "B": "12", "C": "13", "D": "${A}"}),
        ("A=${UNSET:-dflt}", {"A": "dflt"}),
        ("A.B-c_1=x", {"A.B-c_1": "x"}),
        ("A=a=b", {"A": "a=b"}),
        ("A: yaml-like", {"A": "yaml-like"}),
        ("A=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ],
)
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse(text) == expected


def test_bare_key_takes_the_environment_value_or_is_skipped() -> None:
    assert parse("HOME\nMISSING\n", {"HOME": "/home/u"}) == {"HOME": "/home/u"}


def test_substitution_prefers_the_environment_over_earlier_lines() -> None:
    assert parse("A=file\nB=$A", {"A": "env"}) == {"A": "file", "B": "env"}


def test_raw_format_keeps_values_verbatim() -> None:
    assert parse("A='q' ${X} # c", raw=True) == {"A": "'q' ${X} # c"}


@pytest.mark.parametrize(
    ("text", "message", "location"),
    [
        (
            "A=1\nnot valid\n",
            "invalid line 'not valid': expected '=' after 'not' (keys use letters, digits, '_', '.', '-')",
            (2, 4),
        ),
        ("A=1\n=x\n", "invalid line '=x': expected KEY=VALUE", (2, 1)),
        ('A="open\nB=2\n', 'unterminated quoted value (missing closing ")', (1, 3)),
        ("A='x' y\n", "unexpected text 'y' after the closing quote", (1, 3)),
        ("A=${X:?needed}\n", "A: required variable X is missing a value: needed", (1, 3)),
    ],
)
def test_errors(text: str, message: str, location: tuple[int, int]) -> None:
    with pytest.raises(SpecError) as info:
        parse(text)
    assert info.value.message == message
    assert info.value.location == SourceLocation(".env", *location)


def test_service_env_file_short_and_long_forms(proj: Project) -> None:
    proj.write("a.env", "A=1\nB=from-a\n")
    proj.write("b.env", "B=from-b\nC=3\n")
    web = proj.service(
        """
        services:
          web:
            image: x
            env_file:
              - a.env
              - path: b.env
              - path: optional.env
                required: false
            environment:
              C: from-environment
        """
    )
    assert web["environment"] == {"A": "1", "B": "from-b", "C": "from-environment"}
    assert web["env_file"] == [
        {"path": str(proj.root / "a.env"), "required": True},
        {"path": str(proj.root / "b.env"), "required": True},
        {"path": str(proj.root / "optional.env"), "required": False},
    ]


def test_missing_required_env_file_is_located(proj: Project) -> None:
    proj.write("ok.env", "A=1\n")
    error = proj.error("services:\n  web:\n    image: x\n    env_file:\n      - ok.env\n      - missing.env\n")
    assert where(error) == ("compose.yaml", 6, 9)
    assert error.message == f"services.web.env_file[1]: env file {proj.root / 'missing.env'} not found"


def test_env_file_error_points_into_the_env_file(proj: Project) -> None:
    proj.write("bad.env", "OK=1\nbroken line\n")
    error = proj.error("services:\n  web:\n    image: x\n    env_file: bad.env\n")
    assert where(error) == ("bad.env", 2, 7)


def test_project_env_file_option_replaces_dotenv(proj: Project) -> None:
    proj.write(".env", "TAG=dotenv\n")
    proj.write("prod.env", "TAG=prod\n")
    project = proj.load("services:\n  web:\n    image: app:$TAG\n", env_files=[str(proj.root / "prod.env")]).project
    assert project.services["web"].image == "app:prod"
