"""Builders for analysis tests: metrics from plain dicts (as a Compose file writes them), targets, and a
loopback HTTP server whose answers each test scripts."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from escadre.model.settings import Metric
from escadre.rollout.analysis import Target


def metric(name: str = "m", provider: Mapping[str, Any] | None = None, **fields: Any) -> Metric:
    """A metric; the provider defaults to a Prometheus query (tests swap in a scripted provider)."""
    spec = {"name": name, "provider": provider or {"prometheus": {"query": "up"}}, **fields}
    return Metric.model_validate(spec)


def target(**fields: Any) -> Target:
    values: dict[str, Any] = {"app": "shop", "service": "api", "canary_revision": "v2", "stable_revision": "v1"}
    values.update(fields)
    return Target(**values)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


@dataclass
class Answer:
    status: int = 200
    body: Any = b""
    delay: float = 0.0
    content_type: str = "application/json"


@dataclass
class Loopback:
    """A threaded HTTP server on 127.0.0.1; ``handler(seen, n)`` (n counts requests from 0) answers."""

    handler: Callable[[Seen, int], Answer]
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@contextmanager
def loopback(handler: Callable[[Seen, int], Answer]) -> Iterator[Loopback]:
    server_state = Loopback(handler)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
            )
            with lock:
                n = len(server_state.requests)
                server_state.requests.append(seen)
            answer = server_state.handler(seen, n)
            if answer.delay:
                threading.Event().wait(answer.delay)
            body = answer.body
            if not isinstance(body, bytes):
                body = json.dumps(body).encode() if not isinstance(body, str) else body.encode()
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
            except OSError:  # the client gave up (timeout tests)
                pass

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server_state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
