"""A real Prometheus for the analysis tests: Debian's binary on loopback, scraping a tiny exporter whose
series the tests set. Started once per session, and only when a test asks for it (~6 s to first data)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support import PrometheusServer


@dataclass
class Exporter:
    """Serves ``/metrics`` in Prometheus' text format from ``series`` (``'name{labels}'`` → value)."""

    series: dict[str, float] = field(default_factory=dict)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, key: str, value: float) -> None:
        with self.lock:
            self.series[key] = value

    def text(self) -> str:
        with self.lock:
            return "".join(f"{key} {_format(value)}\n" for key, value in self.series.items())


def _format(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


class Prometheus:
    """The shared Prometheus server plus the exporter whose series the tests set."""

    def __init__(self, server: PrometheusServer, exporter: Exporter) -> None:
        self.server = server
        self.url = server.url
        self.exporter = exporter

    def query(self, promql: str) -> Any:
        return self.server.query(promql)

    def wait_for(self, promql: str, predicate: Any = bool, timeout: float = 20.0) -> Any:
        return self.server.wait_for(promql, predicate, timeout)


SERIES = {
    'app_requests_total{revision="v1",code="200"}': 990.0,
    'app_requests_total{revision="v1",code="500"}': 10.0,
    'app_requests_total{revision="v2",code="200"}': 900.0,
    'app_requests_total{revision="v2",code="500"}': 100.0,
    'app_latency_seconds{revision="v1"}': 0.2,
    'app_latency_seconds{revision="v2"}': 0.25,
    'app_latency_seconds{revision="v3"}': 0.21,
    "app_broken_ratio": float("nan"),
    "app_knob": 1.0,
}


@pytest.fixture(scope="session")
def exporter() -> Iterator[Exporter]:
    state = Exporter(dict(SERIES))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = state.text().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def prometheus(exporter: Exporter) -> Iterator[Prometheus]:
    server = PrometheusServer([f"127.0.0.1:{exporter.port}"])
    try:
        server.wait_for("app_requests_total", lambda result: len(result) == 4)
        yield Prometheus(server, exporter)
    finally:
        server.stop()
