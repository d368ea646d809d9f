"""Progressive delivery on a swarm target, end to end through the ``escadre`` command: one swarm service
per revision, HAProxy router weights, real Prometheus analysis, a client hammering the published port.

Same app, same analysis and same expectations as the Docker target's ``tests/e2e/test_rollouts.py``: a
failing canary is aborted by its metric with all traffic back on stable, a healthy one is promoted, and
the client never sees a connection error.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from escadre.drivers.swarm import SwarmDriver
from tests.e2e.conftest import Workspace, free_port
from tests.e2e.test_rollouts import APP, DOCKERFILE, ERROR_RATE_QUERY, Hammer
from tests.support import PrometheusServer, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]


class SwarmStack:
    def __init__(self, ws: Workspace, port: int, metrics_port: int, prometheus: PrometheusServer) -> None:
        self.ws = ws
        self.port = port
        self.metrics_port = metrics_port
        self.prometheus = prometheus

    def compose(self, rollout: dict[str, object], templates: dict[str, object] | None = None) -> None:
        doc: dict[str, object] = {
            "services": {
                "web": {
                    "build": "./app",
                    "init": True,
                    "environment": {"VERSION": "${VERSION:-v1}", "ERROR_RATE": "${ERROR_RATE:-0}"},
                    "ports": [f"127.0.0.1:{self.port}:8000"],
                    "healthcheck": {"test": ["CMD", "test", "-f", "/tmp/healthy"], "interval": "1s"},
                    "deploy": {"replicas": 2},
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
                    **(templates or {}),
                },
            },
        }
        self.ws.write("compose.yaml", json.dumps(doc, indent=2))

    def up(self, *, version: str, error_rate: int = 0) -> tuple[int, str, str]:
        proc = self.ws.run("up", "--target", "sw", check=False, env={"VERSION": version, "ERROR_RATE": str(error_rate)})
        return proc.returncode, proc.stdout, proc.stderr

    def revisions(self) -> dict[str, int]:
        driver = SwarmDriver("check")
        try:
            status = driver.observe(self.ws.name, "web")
        finally:
            driver.close()
        return dict(
            Counter({r.revision: sum(1 for i in r.instances if i.state == "running") for r in status.revisions})
        )


@pytest.fixture
def stack(tmp_path: Path, swarm_host: str) -> Iterator[SwarmStack]:
    name = unique("swe2e")
    directory = tmp_path / name
    directory.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ESCADRE_", "COMPOSE_"))}
    env["ESCADRE_STATE"] = str(tmp_path / "state.db")
    env["ESCADRE_DATA_DIR"] = str(tmp_path / "data")
    env["COMPOSE_PROJECT_NAME"] = name
    ws = Workspace(directory, name, env)
    ws.write("app/Dockerfile", DOCKERFILE)
    ws.write("app/app.sh", APP)
    ws.run("target", "add", "sw", "--kind", "swarm")
    metrics_port = free_port()
    prometheus = PrometheusServer([f"127.0.0.1:{metrics_port}"], job="router")
    try:
        yield SwarmStack(ws, free_port(), metrics_port, prometheus)
    finally:
        prometheus.stop()
        ws.run("down", "-v", "--target", "sw", "-p", name, check=False)


CANARY = {
    "strategy": "canary",
    "scale_down_delay": "1s",
    "steps": [{"set_weight": 40}, {"analysis": {"templates": ["error-rate"]}}, {"set_weight": 70}, {"pause": "2s"}],
}


def between(hammer: Hammer, start: float, end: float) -> set[str]:
    return {body.split()[0] for t, body in hammer.results if start <= t <= end and not body.startswith("CONN")}


def test_a_canary_on_swarm_is_aborted_by_its_metric_then_a_healthy_one_is_promoted(stack: SwarmStack) -> None:
    stack.compose(CANARY)
    code, _, err = stack.up(version="v1")
    assert code == 0, err
    (v1,) = stack.revisions()
    with Hammer(stack.port) as hammer:
        code, _, err = stack.up(version="v2", error_rate=40)
        aborted = time.monotonic()
        assert code == 1, err
        assert "rollout of 'web' aborted" in err and "error-rate" in err
        assert stack.revisions() == {v1: 2}  # the canary's service is gone, stable at full size
        time.sleep(1)
        saw_v2 = hammer.versions()["v2"]
        before_v3 = time.monotonic()
        code, out, err = stack.up(version="v3")
        promoted = time.monotonic()
        assert code == 0, err
        assert "1 updated" in out
        time.sleep(2)  # scale_down_delay: v1's service goes once it has passed
    assert hammer.connection_errors() == []
    assert saw_v2 > 0  # the canary took its share through the router before the analysis failed it
    assert between(hammer, aborted, before_v3) == {"v1"}  # all traffic back on stable
    (v3,) = stack.revisions()
    assert v3 != v1
    assert between(hammer, promoted + 0.5, time.monotonic()) == {"v3"}
    history = json.loads(stack.ws.run("history", "--target", "sw", "--json").stdout)
    assert [d["status"] for d in history][:2] == ["succeeded", "aborted"]


HTTP_HEALTH = {
    "http-health": {
        "metrics": [
            {
                "name": "success-rate",
                "interval": "1s",
                "count": 2,
                "success_condition": "result >= 0.95",
                "provider": {"http": {"path": "/cgi-bin/app", "requests": 10}},
            }
        ]
    }
}
HTTP_CANARY = {
    "strategy": "canary",
    "scale_down_delay": "0s",
    "steps": [{"set_weight": 50}, {"analysis": {"templates": ["http-health"]}}],
}


def test_the_http_analysis_reaches_canary_tasks_on_the_local_manager(stack: SwarmStack) -> None:
    """The HTTP provider probes each canary task from Escadre's process: on the local manager through the
    task's docker_gwbridge address (its overlay address is not reachable from the host)."""
    stack.compose(HTTP_CANARY, HTTP_HEALTH)
    code, _, err = stack.up(version="v1")
    assert code == 0, err
    (v1,) = stack.revisions()
    code, _, err = stack.up(version="v2", error_rate=100)
    assert code == 1 and "success-rate" in err, err
    assert stack.revisions() == {v1: 2}
    code, _, err = stack.up(version="v3")
    assert code == 0, err
    (v3,) = stack.revisions()
    assert v3 != v1
    events = json.loads(stack.ws.run("history", "--target", "sw", "--events", "--json").stdout)["events"]
    measured = [e["message"] for e in events if e["kind"] == "rollout.measurement"]
    assert any("success-rate: successful" in m for m in measured), measured
