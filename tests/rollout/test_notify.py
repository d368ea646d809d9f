"""Webhook notifications, delivered to a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from escadre.model.settings import Notification
from escadre.rollout.notify import Notifier, payload


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, object]]] = []
        self.status = 200

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.received.append((self.path, dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def url(receiver: Receiver, path: str) -> str:
    return f"http://127.0.0.1:{receiver.server_address[1]}{path}"


def test_events_are_filtered_and_delivered_as_json_and_slack_text(receiver: Receiver) -> None:
    notifier = Notifier(
        [
            Notification(url=url(receiver, "/json"), events=["rollout.*"], headers={"Authorization": "Bearer t0k"}),
            Notification(url=url(receiver, "/slack"), format="slack", events=["rollout.aborted", "rollout.succeeded"]),
        ]
    )
    notifier("rollout.step", "set canary weight 10%", project="shop", service="api", deployment=7)
    notifier("rollout.aborted", "error rate 0.4 > 0.05", project="shop", service="api", deployment=7)
    notifier("up.finished", "ignored: no pattern matches", project="shop", service=None, deployment=None)
    notifier.flush()
    paths = [r[0] for r in receiver.received]
    assert sorted(paths) == ["/json", "/json", "/slack"]
    json_bodies = [r[2] for r in receiver.received if r[0] == "/json"]
    assert {b["kind"] for b in json_bodies} == {"rollout.step", "rollout.aborted"}
    assert all(b["deployment"] == 7 and b["service"] == "api" for b in json_bodies)
    assert next(r[1] for r in receiver.received if r[0] == "/json")["Authorization"] == "Bearer t0k"
    slack = next(r[2] for r in receiver.received if r[0] == "/slack")
    assert slack == {"text": "🛑 *shop/api* aborted: error rate 0.4 > 0.05"}
    assert notifier.delivered == 3 and notifier.failed == 0


def test_a_failing_or_absent_webhook_never_raises(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.status = 500
    notifier = Notifier(
        [
            Notification(url=url(receiver, "/hook?token=s3cret"), headers={"X-Token": "s3cret"}),
            Notification(url="http://127.0.0.1:1/nowhere"),
        ],
        timeout=1,
    )
    notifier("rollout.failed", "x", project="p", service="s", deployment=1)
    notifier.flush()
    assert notifier.failed == 2
    assert "s3cret" not in caplog.text


def test_slack_text_for_project_level_events() -> None:
    body = payload(
        Notification(url="http://x", format="slack"),
        {"kind": "rollout.succeeded", "message": "done", "project": "shop", "service": None},
    )
    assert body == {"text": "✅ *shop* succeeded: done"}
