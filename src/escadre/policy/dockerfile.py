"""A small Dockerfile reader: instructions with their line numbers, stages, and what the built image runs as.

The policy rules need three things from a Dockerfile — every instruction with the line it starts on (so a
finding points at ``Dockerfile:12``), the stages (``FROM … AS name``), and, for the stage that is built,
the user and healthcheck it ends with, following ``FROM <earlier stage>`` chains. BuildKit's parser would
be the reference, but it is Go; this one follows the documented syntax: the ``# escape=`` directive, line
continuations, comment lines inside continuations, flags (``--from=``, ``--chown=``) and heredocs
(``RUN <<EOF``). It never fails: what it does not understand stays an instruction with its raw text.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$")
_HEREDOC = re.compile(r"<<-?\s*[\"']?([A-Za-z_][A-Za-z0-9_]*)[\"']?")
_FLAG = re.compile(r"^--([a-z-]+)(?:=(\S*))?\s*")
ROOT_USERS = frozenset({"root", "0", "root:root", "0:0", "root:0", "0:root"})


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    """Upper case: ``RUN``, ``FROM``…"""
    args: str
    """The arguments with continuations joined by a space (flags removed, heredoc bodies appended)."""
    line: int
    end_line: int
    flags: tuple[tuple[str, str], ...] = ()
    stage: int = 0
    raw: str = ""

    def flag(self, name: str) -> str | None:
        for key, value in self.flags:
            if key == name:
                return value
        return None

    def words(self) -> list[str]:
        """The arguments as words: JSON form (``["a", "b"]``) or shell-split (falls back to spaces)."""
        text = self.args.strip()
        if text.startswith("["):
            try:
                import json

                parsed = json.loads(text)
                if isinstance(parsed, list):
                    return [str(p) for p in parsed]
            except ValueError:
                pass
        try:
            return shlex.split(text, comments=False, posix=True)
        except ValueError:
            return text.split()


@dataclass(frozen=True, slots=True)
class Stage:
    index: int
    base: str
    """The ``FROM`` image reference (an earlier stage's name when it builds on one)."""
    alias: str | None
    line: int
    instructions: tuple[Instruction, ...]


@dataclass(frozen=True, slots=True)
class Dockerfile:
    path: str
    """How it is named in findings (relative to the working directory when below it)."""
    instructions: tuple[Instruction, ...]
    stages: tuple[Stage, ...]
    lines: tuple[str, ...]
    """The raw lines, for inline ``# escadre:ignore=RULE`` comments."""

    def stage(self, target: str | None = None) -> Stage | None:
        """The stage ``docker build --target`` builds: the named one, else the last."""
        if not self.stages:
            return None
        if target:
            for stage in self.stages:
                if stage.alias and stage.alias.lower() == target.lower():
                    return stage
        return self.stages[-1]

    def chain(self, target: str | None = None) -> list[Stage]:
        """The built stage and the earlier stages it is based on (``FROM builder``), nearest first."""
        out: list[Stage] = []
        stage = self.stage(target)
        while stage is not None and stage not in out:
            out.append(stage)
            base = stage.base.lower()
            stage = next(
                (s for s in self.stages[: stage.index] if s.alias and s.alias.lower() == base),
                None,
            )
        return out

    def last(self, keyword: str, target: str | None = None) -> Instruction | None:
        """The instruction that decides ``keyword`` (``USER``, ``HEALTHCHECK``) for the built image."""
        for stage in self.chain(target):
            for instruction in reversed(stage.instructions):
                if instruction.keyword == keyword:
                    return instruction
        return None

    def user(self, target: str | None = None) -> str | None:
        found = self.last("USER", target)
        return found.args.strip() if found is not None else None

    def runs_as_root(self, target: str | None = None) -> bool:
        user = self.user(target)
        return user is None or user.lower() in ROOT_USERS or user.split(":")[0] in ("root", "0")

    def has_healthcheck(self, target: str | None = None) -> bool:
        found = self.last("HEALTHCHECK", target)
        return found is not None and found.args.strip().upper() != "NONE"

    def aliases(self) -> set[str]:
        return {s.alias.lower() for s in self.stages if s.alias}


def _escape_char(lines: list[str]) -> str:
    for line in lines:
        match = _DIRECTIVE.match(line.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            return match.group(2)
    return "\\"


def parse_dockerfile(text: str, path: str) -> Dockerfile:
    raw_lines = text.splitlines()
    escape = _escape_char(raw_lines)
    instructions: list[Instruction] = []
    index = 0
    total = len(raw_lines)
    while index < total:
        line = raw_lines[index]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            index += 1
            continue
        start = index
        parts: list[str] = []
        current = line.rstrip()
        while True:
            if current.endswith(escape) and not current.endswith(escape * 2):
                parts.append(current[:-1].strip())
                index += 1
                # comment and blank lines inside a continuation are dropped
                while index < total and (not raw_lines[index].strip() or raw_lines[index].lstrip().startswith("#")):
                    index += 1
                if index >= total:
                    break
                current = raw_lines[index].rstrip()
                continue
            parts.append(current.strip())
            break
        joined = " ".join(p for p in parts if p)
        keyword, _, args = joined.partition(" ")
        keyword = keyword.upper()
        # heredocs: the body lines belong to the instruction
        for match in _HEREDOC.finditer(args if keyword in ("RUN", "COPY", "ADD") else ""):
            word = match.group(1)
            body: list[str] = []
            index += 1
            while index < total and raw_lines[index].strip() != word:
                body.append(raw_lines[index])
                index += 1
            args += "\n" + "\n".join(body)
        flags: list[tuple[str, str]] = []
        rest = args.lstrip()
        while keyword not in ("HEALTHCHECK",) and rest.startswith("--"):
            flag = _FLAG.match(rest)
            if not flag:
                break
            flags.append((flag.group(1), flag.group(2) or ""))
            rest = rest[flag.end() :]
        if keyword == "HEALTHCHECK":
            rest = re.sub(r"^(--[a-z-]+=\S+\s+)+", "", args.lstrip())
        instructions.append(
            Instruction(
                keyword=keyword,
                args=rest.strip(),
                line=start + 1,
                end_line=index + 1,
                flags=tuple(flags),
                raw="\n".join(raw_lines[start : index + 1]),
            )
        )
        index += 1
    return _with_stages(path, instructions, tuple(raw_lines))


def _with_stages(path: str, instructions: list[Instruction], lines: tuple[str, ...]) -> Dockerfile:
    stages: list[Stage] = []
    numbered: list[Instruction] = []
    current: list[Instruction] = []
    base, alias, line = "", None, 0

    def close() -> None:
        if base:
            stages.append(Stage(len(stages), base, alias, line, tuple(current)))

    for instruction in instructions:
        if instruction.keyword == "FROM":
            close()
            words = instruction.args.split()
            base = words[0] if words else ""
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            line = instruction.line
            current = []
        stamped = Instruction(
            instruction.keyword,
            instruction.args,
            instruction.line,
            instruction.end_line,
            instruction.flags,
            max(len(stages), 0),
            instruction.raw,
        )
        numbered.append(stamped)
        if instruction.keyword != "FROM":
            current.append(stamped)
    close()
    return Dockerfile(path, tuple(numbered), tuple(stages), lines)


def read_dockerfile(path: str, display: str) -> Dockerfile | None:
    """Parse the file at ``path`` (``None`` when it cannot be read)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return parse_dockerfile(handle.read(), display)
    except OSError:
        return None
