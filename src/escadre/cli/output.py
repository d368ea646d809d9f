"""How the CLI shows things: rich in a terminal, plain lines when piped, JSON for machines.

``make_progress`` picks the progress sink for long operations: a live rich display with one spinner
per object in a TTY, one line per state change otherwise (CI logs stay readable), JSON lines on stderr
with ``--json`` (stdout then carries only the final result). ``rich`` is imported only when a terminal
display is actually used.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import IO, Any

from escadre.core.progress import Progress, ProgressEvent

_SYMBOL = {"done": "✔", "failed": "✖", "skipped": "–", "warning": "!", "info": "·", "running": "…"}


def is_tty(stream: IO[str]) -> bool:
    return stream.isatty() and os.environ.get("TERM") != "dumb"


def to_jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def print_json(value: Any, stream: IO[str] | None = None) -> None:
    out = stream or sys.stdout
    out.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False, default=str) + "\n")
    out.flush()


class PlainProgress:
    """One line per event, for logs and pipes."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()
        self._last: dict[str, tuple[str, str]] = {}

    def emit(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.status == "output":
                self.stream.write(f"{event.subject} | {event.detail}\n")
            else:
                key = (event.action, event.status)
                if event.status == "running" and self._last.get(event.subject) == key:
                    return
                self._last[event.subject] = key
                symbol = _SYMBOL.get(event.status, "·")
                detail = f" ({event.detail})" if event.detail else ""
                self.stream.write(f"{symbol} {event.subject}: {event.action}{detail}\n")
            self.stream.flush()


class JsonProgress:
    """JSON lines on stderr: ``{"subject", "action", "status", "detail", "ts"}``."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        with self._lock:
            self.stream.write(json.dumps(to_jsonable(event), default=str) + "\n")
            self.stream.flush()


class RichProgress:
    """A live panel: one line per object with a spinner while it works; build output, decisions and
    measurements scroll above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self._rows: dict[str, ProgressEvent] = {}
        self._lock = threading.Lock()
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)

    def _render(self) -> Any:
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 1))
        table.add_column(width=2)
        table.add_column(no_wrap=True)
        table.add_column()
        style = {"done": "green", "failed": "red", "skipped": "yellow", "warning": "yellow", "info": "dim"}
        for subject, ev in list(self._rows.items()):
            icon: Any
            if ev.status == "running":
                icon = Spinner("dots", style="cyan")
            else:
                icon = Text(_SYMBOL.get(ev.status, "·"), style=style.get(ev.status, ""))
            detail = f" [dim]{ev.detail}[/dim]" if ev.detail else ""
            table.add_row(
                icon, Text(subject, style="bold"), Text.from_markup(f"{_escape(ev.action)}{_escape_dim(detail)}")
            )
        return table

    def __enter__(self) -> RichProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._live.update(self._render())
        self._live.__exit__(None, None, None)

    def emit(self, event: ProgressEvent) -> None:
        with self._lock:
            if event.status == "output":
                from rich.text import Text

                self._live.console.print(Text(f"{event.subject} | ", style="dim") + Text(event.detail))
                return
            if event.status in ("info", "warning", "failed"):
                # decisions, measurements and problems stay on screen as a log above the live rows
                from rich.text import Text

                style = {"warning": "yellow", "failed": "red"}.get(event.status, "")
                line = Text(f"{_SYMBOL.get(event.status, '·')} {event.subject}: {event.action}", style=style)
                if event.detail:
                    line += Text(f" ({event.detail})", style="dim")
                self._live.console.print(line)
            self._rows[event.subject] = event
            self._live.update(self._render())


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _escape_dim(markup: str) -> str:
    if not markup:
        return markup
    inner = markup.removeprefix(" [dim]").removesuffix("[/dim]")
    return f" [dim]{_escape(inner)}[/dim]"


class ProgressDisplay:
    """Context manager choosing the right sink for this invocation."""

    def __init__(self, json_mode: bool) -> None:
        self.sink: Progress
        self._rich: RichProgress | None = None
        if json_mode:
            self.sink = JsonProgress()
        elif is_tty(sys.stderr):
            self._rich = RichProgress()
            self.sink = self._rich
        else:
            self.sink = PlainProgress()

    def __enter__(self) -> Progress:
        if self._rich is not None:
            self._rich.__enter__()
        return self.sink

    def __exit__(self, *exc: object) -> None:
        if self._rich is not None:
            self._rich.__exit__(*exc)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, title: str | None = None) -> None:
    """A table on stdout: rich in a terminal, aligned plain text otherwise."""
    cells = [[("" if c is None else str(c)) for c in row] for row in rows]
    if is_tty(sys.stdout):
        from rich.console import Console
        from rich.table import Table

        t = Table(title=title, header_style="bold", box=None, pad_edge=False)
        for h in headers:
            t.add_column(h)
        for row in cells:
            t.add_row(*[_escape(c) for c in row])
        Console().print(t)
        return
    if title:
        sys.stdout.write(title + "\n")
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    line = "  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()
    sys.stdout.write(line + "\n")
    for row in cells:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


def error(message: str) -> None:
    """An error on stderr (red in a terminal)."""
    if is_tty(sys.stderr):
        from rich.console import Console
        from rich.text import Text

        Console(stderr=True).print(Text("error: ", style="bold red") + Text(message))
    else:
        sys.stderr.write(f"error: {message}\n")


def ago(when: dt.datetime | None) -> str:
    if when is None:
        return ""
    seconds = (dt.datetime.now(dt.UTC) - when).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{max(0, int(seconds))}s ago"
