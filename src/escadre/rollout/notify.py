"""Outbound webhooks on rollout events: JSON for machines, Slack-compatible text for people.

Configured under the top-level ``x-escadre.notifications``; each entry picks events with shell-style
patterns (``rollout.*``, ``rollout.aborted``). Deliveries run on a background thread with a short
timeout and never slow a rollout down or fail it: a webhook that does not answer is logged and dropped.
``flush`` waits (boundedly) for pending deliveries so the final "succeeded"/"aborted" is not lost when
the process exits. Header values (tokens) are never logged.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import logging
import queue
import threading
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from escadre.model.settings import Notification

log = logging.getLogger("escadre.notify")

Sender = Callable[[str, bytes, Mapping[str, str], float], int]

_ICON = {"succeeded": "✅", "aborted": "🛑", "failed": "❌", "rolled-back": "↩️", "paused": "⏸️", "promoted": "🚀"}


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return int(response.status)


def payload(notification: Notification, event: Mapping[str, Any]) -> dict[str, Any]:
    """The body for one notification: the event as JSON, or Slack's ``{"text": …}``."""
    if notification.format == "slack":
        short = str(event["kind"]).removeprefix("rollout.")
        icon = _ICON.get(short, "•")
        where = f"{event.get('project')}/{event.get('service')}" if event.get("service") else str(event.get("project"))
        return {"text": f"{icon} *{where}* {short}: {event.get('message', '')}"}
    return dict(event)


class Notifier:
    def __init__(
        self,
        notifications: Sequence[Notification],
        *,
        send: Sender = _post,
        timeout: float = 5.0,
    ) -> None:
        self.notifications = list(notifications)
        self._send = send
        self._timeout = timeout
        self._queue: queue.Queue[tuple[Notification, dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    def __call__(
        self,
        kind: str,
        message: str,
        *,
        project: str,
        service: str | None,
        deployment: int | None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        if not self.notifications:
            return
        event = {
            "kind": kind,
            "message": message,
            "project": project,
            "service": service,
            "deployment": deployment,
            "data": dict(data or {}),
            "ts": dt.datetime.now(dt.UTC).isoformat(),
        }
        for notification in self.notifications:
            if any(fnmatch.fnmatchcase(kind, pattern) for pattern in notification.events):
                self._ensure_thread()
                self._queue.put((notification, event))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._deliver, name="escadre-notify", daemon=True)
            self._thread.start()

    def _deliver(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                notification, event = item
                body = json.dumps(payload(notification, event), default=str).encode()
                try:
                    status = self._send(notification.url, body, notification.headers, self._timeout)
                    if status >= 300:
                        raise OSError(f"HTTP {status}")
                    self.delivered += 1
                except Exception as exc:  # a webhook must never break a rollout
                    self.failed += 1
                    log.warning("notification to %s failed: %s", _host(notification.url), exc)
            finally:
                self._queue.task_done()

    def flush(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` seconds for pending deliveries."""
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(timeout)


def _host(url: str) -> str:
    """The URL without path or query, which may carry a token (Slack webhook URLs do)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"
