"""Progressive delivery on the real engine: HAProxy router, real Prometheus, a client hammering the
published port the whole time.

The test app is busybox httpd with a CGI script answering ``<version> ok`` or, at a set rate, a 500
``<version> error``. Every rollout below runs while a client sends requests through the stable published
port: it must never see a connection error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import docker
import pytest

from tests.e2e.conftest import Workspace, free_port
from tests.support import BUSYBOX, PrometheusServer

pytestmark = [pytest.mark.docker, pytest.mark.slow]

DOCKERFILE = f"""
FROM {BUSYBOX}
COPY app.sh /www/cgi-bin/app
RUN chmod +x /www/cgi-bin/app && echo ok > /www/index.html
CMD ["sh", "-c", "echo $VERSION > /etc/version; echo $ERROR_RATE > /etc/error_rate; touch /tmp/healthy; \
     exec httpd -f -p 8000 -h /www"]
"""

APP = """#!/bin/sh
n=$(( $(od -An -N2 -tu2 /dev/urandom) % 100 ))
if [ "$n" -lt "$(cat /etc/error_rate)" ]; then
  printf 'Status: 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\n%s error\\n' "$(cat /etc/version)"
else
  printf 'Content-Type: text/plain\\r\\n\\r\\n%s ok\\n' "$(cat /etc/version)"
fi
"""

ERROR_RATE_QUERY = (
    'sum(rate(haproxy_server_http_responses_total{proxy="be_web_8000",server=~"canary.*",code="5xx"}[6s]))'
    ' / sum(rate(haproxy_server_http_responses_total{proxy="be_web_8000",server=~"canary.*"}[6s]))'
)


@dataclass
class Hammer:
    """A client sending requests through the published port on its own thread, one connection each."""

    port: int
    results: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/cgi-bin/app", timeout=5) as r:
                    body = r.read().decode().strip()
            except urllib.error.HTTPError as exc:
                body = exc.read().decode().strip() or f"http {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                body = f"CONNECTION ERROR {exc}"
            self.results.append((time.monotonic(), body))
            time.sleep(0.01)

    def __enter__(self) -> Hammer:
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(10)

    def connection_errors(self) -> list[str]:
        return [body for _, body in self.results if body.startswith("CONNECTION ERROR")]

    def versions(self, since: float = 0.0) -> Counter[str]:
        return Counter(body.split()[0] for t, body in self.results if t >= since and not body.startswith("CONN"))


@dataclass
class Stack:
    ws: Workspace
    port: int
    metrics_port: int
    prometheus: PrometheusServer

    def compose(self, rollout: dict[str, object], *, replicas: int = 2) -> None:
        doc = {
            "services": {
                "web": {
                    "build": "./app",
                    "init": True,
                    "environment": {"VERSION": "${VERSION:-v1}", "ERROR_RATE": "${ERROR_RATE:-0}"},
                    "ports": [f"127.0.0.1:{self.port}:8000"],
                    "healthcheck": {"test": ["CMD", "test", "-f", "/tmp/healthy"], "interval": "2s"},
                    "deploy": {"replicas": replicas},
                    "x-escadre": {"rollout": rollout},
                }
            },
            "x-escadre": {
                "router": {"metrics_port": self.metrics_port},
                "analysis_templates": {
                    "error-rate": {
                        "metrics": [
                            {
                                "name": "error-rate",
                                "interval": "2s",
                                "count": 3,
                                "initial_delay": "4s",
                                "failure_limit": 0,
                                "success_condition": "result < 0.1",
                                "provider": {"prometheus": {"address": self.prometheus.url, "query": ERROR_RATE_QUERY}},
                            }
                        ]
                    },
                    "nothing-there": {
                        "metrics": [
                            {
                                "name": "no-data",
                                "interval": "1s",
                                "count": 2,
                                "success_condition": "result < 1",
                                "provider": {
                                    "prometheus": {"address": self.prometheus.url, "query": "absent_metric_xyz"}
                                },
                            }
                        ]
                    },
                    "smoke": {
                        "metrics": [
                            {
                                "name": "success-rate",
                                "interval": "1s",
                                "count": 2,
                                "success_condition": "result >= 0.95",
                                "provider": {"http": {"path": "/cgi-bin/app", "requests": 40}},
                            }
                        ]
                    },
                },
            },
        }
        self.ws.write("compose.yaml", json.dumps(doc, indent=2))

    def up(
        self, *args: str, version: str, error_rate: int = 0, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        return self.ws.run("up", *args, check=check, env={"VERSION": version, "ERROR_RATE": str(error_rate)})

    def revisions(self) -> dict[str, int]:
        client = docker.from_env()
        found = client.containers.list(filters={"label": [f"escadre.app={self.ws.name}", "escadre.service=web"]})
        return dict(Counter(c.labels["escadre.revision"] for c in found))

    def history(self) -> list[dict[str, object]]:
        return json.loads(self.ws.run("history", "--json").stdout)


@pytest.fixture
def stack(ws: Workspace) -> Iterator[Stack]:
    ws.write("app/Dockerfile", DOCKERFILE)
    ws.write("app/app.sh", APP)
    metrics_port = free_port()
    prometheus = PrometheusServer([f"127.0.0.1:{metrics_port}"], job="router")
    try:
        yield Stack(ws, free_port(), metrics_port, prometheus)
    finally:
        prometheus.stop()


CANARY = {
    "strategy": "canary",
    "scale_down_delay": "3s",
    "steps": [{"set_weight": 40}, {"analysis": {"templates": ["error-rate"]}}, {"set_weight": 70}, {"pause": "2s"}],
}


def test_canary_aborts_a_failing_revision_then_promotes_a_healthy_one(stack: Stack) -> None:
    stack.compose(CANARY)
    assert stack.up(version="v1").returncode == 0
    (v1,) = stack.revisions()
    with Hammer(stack.port) as hammer:
        failed = stack.up(version="v2", error_rate=40)
        aborted_at = time.monotonic()
        time.sleep(1.5)
        assert failed.returncode == 1, failed.stderr
        assert "rollout of 'web' aborted" in failed.stderr and "error-rate" in failed.stderr
        assert stack.revisions() == {v1: 2}  # the canary is gone, stable at full size
        assert set(hammer.versions(since=aborted_at)) == {"v1"}  # all traffic back on stable
        saw_v2 = hammer.versions()["v2"]

        promoted = stack.up(version="v3")
        assert promoted.returncode == 0, promoted.stderr
        assert "1 updated" in promoted.stdout
        time.sleep(4)  # scale_down_delay: v1 goes once it has passed
        (v3,) = stack.revisions()
        assert v3 != v1
        after = time.monotonic()
        time.sleep(1)
    assert hammer.connection_errors() == []
    assert saw_v2 > 0  # the canary did take its share before the analysis failed it
    assert set(hammer.versions(since=after)) == {"v3"}
    history = stack.history()
    assert [d["status"] for d in history][:2] == ["succeeded", "aborted"]
    measurements = json.loads(stack.ws.run("history", "--events", "--json").stdout)["events"]
    assert any(e["kind"] == "rollout.measurement" and e["level"] == "error" for e in measurements)


def test_blue_green_never_sends_production_traffic_to_a_broken_preview(stack: Stack) -> None:
    preview = free_port()
    stack.compose(
        {
            "strategy": "blue-green",
            "preview_port": preview,
            "auto_promote": True,
            "pre_promotion_analysis": {"templates": ["smoke"]},
            "scale_down_delay": "1s",
        }
    )
    assert stack.up(version="v1").returncode == 0
    (v1,) = stack.revisions()
    with Hammer(stack.port) as hammer:
        result = stack.up(version="v2", error_rate=50)
    assert result.returncode == 1
    assert "pre-promotion analysis failed" in result.stderr
    assert hammer.connection_errors() == []
    assert set(hammer.versions()) == {"v1"}  # production never saw the preview
    assert stack.revisions() == {v1: 2}

    with Hammer(stack.port) as hammer:
        assert stack.up(version="v3").returncode == 0  # a healthy preview is promoted automatically
        after = time.monotonic()
        time.sleep(1.5)
    assert hammer.connection_errors() == []
    assert set(hammer.versions(since=after)) == {"v3"}


def test_no_data_pauses_for_a_human_who_promotes_from_another_process(stack: Stack) -> None:
    stack.compose(
        {
            "strategy": "canary",
            "scale_down_delay": 0,
            "steps": [{"set_weight": 50}, {"analysis": {"templates": ["nothing-there"]}}],
        }
    )
    assert stack.up(version="v1").returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "escadre.cli.main", "up"],
        cwd=stack.ws.dir,
        env={**stack.ws.env, "VERSION": "v2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = json.loads(stack.ws.run("rollout", "status", "--json").stdout)
        if status and status[0]["deployment"]["status"] == "paused":
            break
        time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("the rollout never paused on an inconclusive analysis")
    assert "inconclusive" in status[0]["deployment"]["message"]
    assert stack.ws.run("promote", "web").returncode == 0
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert stack.history()[0]["status"] == "succeeded"


def test_a_rollout_killed_mid_way_is_resumed(stack: Stack) -> None:
    stack.compose(
        {
            "strategy": "canary",
            "scale_down_delay": 0,
            "steps": [{"set_weight": 30}, {"pause": "6s"}, {"set_weight": 60}, {"pause": "1s"}],
        }
    )
    assert stack.up(version="v1").returncode == 0
    (v1,) = stack.revisions()
    with Hammer(stack.port) as hammer:
        proc = subprocess.Popen(
            [sys.executable, "-m", "escadre.cli.main", "up"],
            cwd=stack.ws.dir,
            env={**stack.ws.env, "VERSION": "v2"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            events = json.loads(stack.ws.run("history", "--events", "--json").stdout)["events"]
            if any("pause 6s" in e["message"] for e in events):
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        during = stack.revisions()
        assert len(during) == 2 and during[v1] == 2  # canary and stable both serving
        status = json.loads(stack.ws.run("rollout", "status", "--json").stdout)
        assert status[0]["deployment"]["status"] == "progressing" and status[0]["engine_running"] is False
        resumed = stack.ws.run("rollout", "resume", "web")
        assert "web: succeeded" in resumed.stdout
        after = time.monotonic()
        time.sleep(1)
    assert hammer.connection_errors() == []
    (v2,) = stack.revisions()
    assert v2 != v1
    assert set(hammer.versions(since=after)) == {"v2"}
    kinds = [e["kind"] for e in json.loads(stack.ws.run("history", "--events", "--json").stdout)["events"]]
    assert "deploy.adopted" in kinds and "rollout.resumed" in kinds
    assert stack.history()[0]["status"] == "succeeded"


def test_detached_rollout_steered_from_the_command_line(stack: Stack) -> None:
    stack.compose({"strategy": "canary", "scale_down_delay": 0, "steps": [{"set_weight": 20}, {"pause": {}}]})
    assert stack.up(version="v1").returncode == 0
    detached = stack.up("--detach", version="v2")
    assert detached.returncode == 0 and "1 detached" in detached.stdout
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(stack.ws.run("rollout", "status", "--json").stdout)
        if status[0]["deployment"]["status"] == "paused":
            break
        time.sleep(0.3)
    assert status[0]["engine_running"] is True
    assert status[0]["deployment"]["checkpoint"]["weight"] == 20
    stack.ws.run("abort", "web")
    watched = stack.ws.run("rollout", "status", "--watch", timeout=60)
    assert "web: aborted" in watched.stdout
    assert len(stack.revisions()) == 1


def test_rollback_to_the_previous_revision(stack: Stack) -> None:
    stack.compose({"strategy": "canary", "scale_down_delay": 0, "steps": [{"set_weight": 50}, {"pause": "1s"}]})
    assert stack.up(version="v1").returncode == 0
    (v1,) = stack.revisions()
    assert stack.up(version="v2").returncode == 0
    with Hammer(stack.port) as hammer:
        result = stack.ws.run("rollback", "web")
        assert f"rollback to {v1} succeeded" in result.stdout
        after = time.monotonic()
        time.sleep(1)
    assert hammer.connection_errors() == []
    assert set(hammer.versions(since=after)) == {"v1"}
    assert stack.revisions() == {v1: 2}
    nothing = stack.ws.run("rollout", "retry", "web", check=False)
    assert nothing.returncode == 2 and "nothing to retry" in nothing.stderr
