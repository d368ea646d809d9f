"""Service logs: ``GET /services/{id}/logs`` read per service, lines named after the task that wrote them.

Swarm's log endpoint interleaves every task of a service; with ``details=true`` each line carries the
task's id (``com.docker.swarm.task.id=…``), which is mapped to the instance name ``ps`` shows
(``<service>.<slot>``). Reading stdout and stderr separately keeps the stream of each line; following
merges every service's stream on one queue, like the Docker driver does for containers.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Literal

from escadre.drivers.base import LogLine

TASK_ID = "com.docker.swarm.task.id"


def parse_line(
    raw: bytes | str, service: str, names: Mapping[str, str], stream: Literal["stdout", "stderr"]
) -> LogLine:
    """One ``timestamps=true, details=true`` line: ``<ts> <k=v,k=v> <text>``."""
    line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    line = line.rstrip("\n")
    ts, _, rest = line.partition(" ")
    details, _, text = rest.partition(" ")
    fields = dict(item.partition("=")[::2] for item in details.split(",") if "=" in item)
    if TASK_ID not in fields:  # no details part: the whole rest is the text
        text, fields = rest, {}
    task = fields.get(TASK_ID, "")
    return LogLine(service, names.get(task, f"{service}.{task[:12]}" if task else service), text, stream, ts or None)


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Whole lines out of a stream of chunks (a chunk may hold several lines or part of one)."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        *complete, buf = buf.split(b"\n")
        yield from complete
    if buf:
        yield buf


def follow(sources: list[tuple[str, Callable[[], Iterable[bytes]]]], names: Mapping[str, str]) -> Iterator[LogLine]:
    """Merge the followed streams of several services (``(service, open_stream)``) as lines arrive."""
    lines: queue.Queue[LogLine | None] = queue.Queue(maxsize=10_000)

    def pump(service: str, open_stream: Callable[[], Iterable[bytes]]) -> None:
        try:
            for raw in split_lines(open_stream()):
                lines.put(parse_line(raw, service, names, "stdout"))
        except Exception:  # the service went away: its stream simply ends
            pass
        finally:
            lines.put(None)

    for service, open_stream in sources:
        threading.Thread(target=pump, args=(service, open_stream), daemon=True).start()
    remaining = len(sources)
    while remaining:
        item = lines.get()
        if item is None:
            remaining -= 1
            continue
        yield item


__all__ = ["follow", "parse_line", "split_lines"]
