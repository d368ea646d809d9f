"""Progress reporting without knowing who listens.

Operations and drivers describe what they are doing as ``ProgressEvent`` values and hand them to a
``Progress`` sink. The CLI decides how to show them (rich live display in a terminal, one plain line per
event otherwise, JSON lines with ``--json``); the API server turns them into server-sent events; tests
collect them in a list. Sinks must be thread-safe: independent services are deployed in parallel.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Status = Literal["running", "done", "failed", "skipped", "info", "output", "warning"]


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """``subject`` names the object (``service api``, ``network shop_default``), ``action`` what happens to
    it (``creating``, ``building``, ``waiting healthy``), ``status`` where that action is."""

    subject: str
    action: str
    status: Status = "running"
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


class Progress(Protocol):
    def emit(self, event: ProgressEvent) -> None: ...


class NullProgress:
    """Discards everything."""

    def emit(self, event: ProgressEvent) -> None:
        return None


class CollectingProgress:
    """Keeps every event; used by tests and by the API to replay an operation."""

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self._lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        with self._lock:
            self.events.append(event)

    def find(self, subject: str | None = None, status: Status | None = None) -> list[ProgressEvent]:
        with self._lock:
            return [
                e
                for e in self.events
                if (subject is None or e.subject == subject) and (status is None or e.status == status)
            ]


class CallbackProgress:
    """Forwards to a function (serialised by a lock so callbacks need not be thread-safe)."""

    def __init__(self, callback: Callable[[ProgressEvent], None]) -> None:
        self._callback = callback
        self._lock = threading.Lock()

    def emit(self, event: ProgressEvent) -> None:
        with self._lock:
            self._callback(event)


class Tee:
    """Sends each event to several sinks."""

    def __init__(self, *sinks: Progress) -> None:
        self._sinks = sinks

    def emit(self, event: ProgressEvent) -> None:
        for sink in self._sinks:
            sink.emit(event)
