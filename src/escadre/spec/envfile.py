"""``.env`` files, read the way ``docker compose`` reads them.

One parser serves the project's ``.env`` / ``--env-file`` (variables for interpolation) and a service's
``env_file:`` (variables for the container). The rules:

* ``KEY=VALUE`` and ``export KEY=VALUE`` (and the YAML-like ``KEY: VALUE``); blank lines and lines
  starting with ``#`` are skipped;
* unquoted values end at the line end, lose trailing blanks, and lose a comment that starts with ``#``
  *after a blank* (``A=b#c`` keeps ``b#c``; ``A=b #c`` is ``b``); ``${VAR}`` in them is substituted;
* ``'single quoted'`` values are taken literally, and may span lines;
* ``"double quoted"`` values may span lines, understand ``\\n \\r \\t \\" \\\\`` and are substituted;
* ``KEY`` alone takes the value of ``KEY`` from the environment when it is set there, and is skipped
  otherwise.

Substitution looks variables up in the process environment first and then in the lines already read,
as Compose does. A service's ``env_file`` may declare ``format: raw``: values are then taken verbatim.
Errors carry the line (and column when known) in the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.interpolate import Interpolator, TemplateError

_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$$"}
"""``\\$`` stays a literal dollar: it is turned into ``$$`` before substitution."""


def parse_env(
    text: str,
    file: str,
    lookup: Callable[[str], str | None] | None = None,
    *,
    raw: bool = False,
) -> dict[str, str]:
    """Parse dotenv ``text``; ``lookup`` resolves variables (and bare ``KEY`` lines) from outside."""
    outside = lookup or (lambda _name: None)
    values: dict[str, str] = {}

    def resolve(name: str) -> str | None:
        found = outside(name)
        return found if found is not None else values.get(name)

    interpolator = Interpolator(resolve)
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        lineno = index + 1
        index += 1
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        body = line.lstrip()
        indent = len(line) - len(body)
        if body.startswith("export ") or body.startswith("export\t"):
            body = body[len("export") :].lstrip()
            indent = len(line) - len(body)
        match = _KEY.match(body)
        if not match:
            raise SpecError(
                f"invalid line {stripped!r}: expected KEY=VALUE",
                location=SourceLocation(file, lineno, indent + 1),
            )
        key = match.group()
        rest = body[match.end() :]
        after_key = rest.lstrip(" \t")
        if not after_key or after_key.startswith("#"):
            inherited = outside(key)
            if inherited is not None:
                values[key] = inherited
            continue
        if not after_key.startswith(("=", ":")):
            raise SpecError(
                f"invalid line {stripped!r}: expected '=' after {key!r} (keys use letters, digits, '_', '.', '-')",
                location=SourceLocation(file, lineno, indent + match.end() + 1),
            )
        value_text = after_key[1:].lstrip(" \t")
        column = len(line) - len(value_text) + 1
        where = SourceLocation(file, lineno, column)
        if raw:
            values[key] = value_text.rstrip()
            continue
        if value_text[:1] in ("'", '"'):
            quote = value_text[0]
            content, index = _quoted(value_text, quote, lines, index, where)
            if quote == "'":
                values[key] = content
                continue
            content = _unescape(content)
        else:
            content = _strip_comment(value_text)
        try:
            values[key] = interpolator.substitute(content)
        except TemplateError as exc:
            raise SpecError(f"{key}: {exc}", location=where) from None
    return values


def _quoted(first: str, quote: str, lines: list[str], index: int, where: SourceLocation) -> tuple[str, int]:
    """Collect a quoted value that may continue on the following lines; return it and the next index."""
    buffer = first[1:]
    while True:
        end = _closing_quote(buffer, quote)
        if end >= 0:
            trailing = buffer[end + 1 :].strip()
            if trailing and not trailing.startswith("#"):
                raise SpecError(f"unexpected text {trailing!r} after the closing quote", location=where)
            return buffer[:end], index
        if index >= len(lines):
            raise SpecError(f"unterminated quoted value (missing closing {quote})", location=where)
        buffer += "\n" + lines[index]
        index += 1


def _closing_quote(text: str, quote: str) -> int:
    pos = 0
    while True:
        pos = text.find(quote, pos)
        if pos < 0:
            return -1
        if quote == '"':
            backslashes = len(text[:pos]) - len(text[:pos].rstrip("\\"))
            if backslashes % 2:
                pos += 1
                continue
        return pos


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text
    out: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text) and text[pos + 1] in _ESCAPES:
            out.append(_ESCAPES[text[pos + 1]])
            pos += 2
            continue
        out.append(ch)
        pos += 1
    return "".join(out)


def _strip_comment(value: str) -> str:
    match = re.search(r"[ \t]#", value)
    if match:
        value = value[: match.start()]
    return value.rstrip()


def read_env_file(
    path: str,
    display: str,
    lookup: Callable[[str], str | None] | None = None,
    *,
    raw: bool = False,
    at: SourceLocation | None = None,
) -> dict[str, str]:
    """Read and parse the env file at ``path`` (``display`` names it in messages)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SpecError(f"env file {display} not found", location=at) from None
    except IsADirectoryError:
        raise SpecError(f"env file {display} is a directory", location=at) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"env file {display} is not UTF-8 text: {exc.reason}", location=at) from None
    except OSError as exc:
        raise SpecError(f"cannot read env file {display}: {exc.strerror}", location=at) from None
    return parse_env(text, display, lookup, raw=raw)


def layered(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """Variables for interpolation: ``.env`` values under the real environment (which wins)."""
    return {**dotenv, **environ}
