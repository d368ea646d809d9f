"""The Dockerfile reader: continuations, comments, escape directive, heredocs, stages and users."""

from __future__ import annotations

from escadre.policy.dockerfile import parse_dockerfile


def test_continuations_comments_and_lines() -> None:
    text = "FROM alpine:3.20\n# a comment\nRUN apk add \\\n    # inside\n    curl \\\n    jq\nUSER app\n"
    parsed = parse_dockerfile(text, "Dockerfile")
    assert [(i.keyword, i.line) for i in parsed.instructions] == [("FROM", 1), ("RUN", 3), ("USER", 7)]
    assert parsed.instructions[1].args == "apk add curl jq"
    assert parsed.instructions[1].end_line == 6


def test_escape_directive_and_flags() -> None:
    text = "# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nCOPY --chown=app:app --from=build a `\n  b\n"
    parsed = parse_dockerfile(text, "Dockerfile")
    copy = parsed.instructions[1]
    assert copy.args == "a b"
    assert copy.flag("chown") == "app:app" and copy.flag("from") == "build"


def test_heredoc_body_belongs_to_the_instruction() -> None:
    text = "FROM debian:12\nRUN <<EOF\napt-get update\ncurl -k https://x\nEOF\nUSER 10001\n"
    parsed = parse_dockerfile(text, "Dockerfile")
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "USER"]
    assert "curl -k" in parsed.instructions[1].args


def test_stages_users_and_healthcheck_follow_the_built_target() -> None:
    text = (
        "FROM golang:1.22 AS build\nUSER root\nFROM debian:12 AS runtime\nUSER 10001\n"
        "HEALTHCHECK CMD true\nFROM runtime AS debug\nUSER root\nHEALTHCHECK NONE\n"
    )
    parsed = parse_dockerfile(text, "Dockerfile")
    assert [s.alias for s in parsed.stages] == ["build", "runtime", "debug"]
    assert parsed.runs_as_root() and not parsed.has_healthcheck()
    assert not parsed.runs_as_root("runtime") and parsed.has_healthcheck("runtime")
    assert parsed.user("build") == "root"


def test_unknown_text_never_fails() -> None:
    parsed = parse_dockerfile("\n\n   \nnot an instruction at all\n", "x")
    assert parsed.instructions[0].keyword == "NOT"
    assert parsed.stages == ()
