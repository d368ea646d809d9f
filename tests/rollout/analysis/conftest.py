"""A real Prometheus for the analysis tests: Debian's binary on loopback, scraping a tiny exporter whose
series the tests set. Started once per session, and only when a test asks for it (~6 s to first data)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.rollout.analysis.helpers import free_port

PROMETHEUS = shutil.which("prometheus") or ("/usr/bin/prometheus" if os.path.exists("/usr/bin/prometheus") else None)


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


@dataclass
class Prometheus:
    url: str
    exporter: Exporter

    def query(self, promql: str) -> Any:
        with urllib.request.urlopen(
            f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}", timeout=5
        ) as r:
            return json.loads(r.read())["data"]["result"]

    def wait_for(self, promql: str, predicate: Any = bool, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = self.query(promql)
                if predicate(result):
                    return result
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Prometheus never answered {promql!r} as expected")
            time.sleep(0.1)


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
    if PROMETHEUS is None:
        if os.environ.get("ESCADRE_REQUIRE_DOCKER") == "1":
            pytest.fail("prometheus is not installed (apt-get install -y prometheus) and ESCADRE_REQUIRE_DOCKER=1")
        pytest.skip("prometheus is not installed (apt-get install -y prometheus); set ESCADRE_REQUIRE_DOCKER=1 to fail")
    root = Path(tempfile.mkdtemp(prefix="escadre-prom-"))
    config = root / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: app\n    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        server = Prometheus(f"http://127.0.0.1:{port}", exporter)
        deadline = time.monotonic() + 30
        while True:  # the first non-empty answer comes ~5-6 s after start: poll
            if process.poll() is not None:
                raise AssertionError(f"prometheus exited: {(root / 'prometheus.log').read_text()[-2000:]}")
            try:
                if len(server.query("app_requests_total")) == 4:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"prometheus gave no data in 30 s: {(root / 'prometheus.log').read_text()[-2000:]}"
                )
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
