"""Progressive delivery on Docker, measured: abort latency and the router's overhead.

* **Abort latency** — a canary whose new revision answers 500 half the time is analysed in the background
  by a Prometheus metric (interval 2 s, ``failure_limit: 1``, i.e. it tolerates one bad measurement like a
  Flagger ``threshold: 2``). Measured from the first failing measurement to the moment all traffic is back
  on stable (the router's weight change, and the last v2 answer a hammering client saw). Goal: at most 2
  analysis intervals. The reference, Flagger, cannot run here (Kubernetes only): its documented behaviour
  is printed beside ours, ``interval × threshold``.
* **Router overhead** — the same load generator (``wrk``), the same image, the same run: requests straight
  to a container's published port versus through Escadre's HAProxy router. Reports p50 latency added and
  the throughput ratio.

Run with ``bench/run rollout``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import free_port  # noqa: E402
from tests.e2e.test_rollouts import APP, DOCKERFILE  # noqa: E402  (the same test app as the e2e proofs)
from tests.support import PrometheusServer, ensure_busybox_image  # noqa: E402

INTERVAL = 2.0
QUERY = (
    'sum(rate(haproxy_server_http_responses_total{proxy="be_web_8000",server=~"canary.*",code="5xx"}[4s]))'
    ' / sum(rate(haproxy_server_http_responses_total{proxy="be_web_8000",server=~"canary.*"}[4s]))'
)


def compose(routed_port: int, direct_port: int, metrics_port: int, prometheus: str) -> dict[str, object]:
    image = {
        "build": "./app",
        "init": True,
        "environment": {"VERSION": "${VERSION:-v1}", "ERROR_RATE": "${ERROR_RATE:-0}"},
    }
    return {
        "services": {
            "web": {
                **image,
                "ports": [f"127.0.0.1:{routed_port}:8000"],
                "x-escadre": {
                    "rollout": {
                        "strategy": "canary",
                        "scale_down_delay": 0,
                        "analysis": {"templates": ["error-rate"]},
                        "steps": [{"set_weight": 50}, {"pause": "120s"}],
                    }
                },
            },
            "direct": {**image, "ports": [f"127.0.0.1:{direct_port}:8000"]},
        },
        "x-escadre": {
            "router": {"metrics_port": metrics_port},
            "analysis_templates": {
                "error-rate": {
                    "metrics": [
                        {
                            "name": "error-rate",
                            "interval": f"{INTERVAL:g}s",
                            "failure_limit": 1,
                            # the canary's first seconds of traffic have no rate yet: tolerate a few empty answers
                            "initial_delay": "3s",
                            "inconclusive_limit": 3,
                            "success_condition": "result < 0.1",
                            "provider": {"prometheus": {"address": prometheus, "query": QUERY}},
                        }
                    ]
                }
            },
        },
    }


def escadre(workdir: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "escadre.cli.main", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise SystemExit(f"escadre {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def wrk(url: str, seconds: int = 8) -> tuple[float, float]:
    """(requests per second, p50 latency in ms) from wrk."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50, unit = re.search(r"50%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return rps, float(p50) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


class Hammer(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.seen: list[tuple[float, str]] = []
        self.errors = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/cgi-bin/app", timeout=5) as r:
                    body = r.read().decode()
            except urllib.error.HTTPError as exc:
                body = exc.read().decode()
            except OSError:
                self.errors += 1
                continue
            self.seen.append((time.time(), body.split()[0] if body else "?"))
            time.sleep(0.005)


def abort_round(workdir: Path, env: dict[str, str], port: int) -> tuple[float, float, int]:
    """One failing canary: (weight-back latency, last-v2-answer latency, connection errors)."""
    hammer = Hammer(port)
    hammer.start()
    escadre(workdir, {**env, "VERSION": "v2", "ERROR_RATE": "50"}, "up", "web", check=False)
    time.sleep(1)
    hammer.stopped.set()
    hammer.join(10)
    events = json.loads(escadre(workdir, env, "history", "--events", "--json", "--limit", "400").stdout)["events"]
    events.sort(key=lambda e: e["id"])
    latest_start = max(e["id"] for e in events if e["kind"] == "deploy.started")
    mine = [e for e in events if e["id"] >= latest_start]
    failed = next(e for e in mine if e["kind"] == "rollout.measurement" and e["level"] == "error")
    t_fail = datetime.fromisoformat(failed["ts"]).timestamp()
    back = next(
        e for e in mine if e["kind"] == "rollout.traffic" and e["id"] > failed["id"] and e["data"].get("weight") == 0
    )
    t_back = datetime.fromisoformat(back["ts"]).timestamp()
    last_v2 = max((t for t, v in hammer.seen if v == "v2"), default=t_fail)
    return t_back - t_fail, max(0.0, last_v2 - t_fail), hammer.errors


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    ensure_busybox_image()
    workdir = Path(tempfile.mkdtemp(prefix="escadre-bench-rollout-"))
    (workdir / "app").mkdir()
    (workdir / "app" / "Dockerfile").write_text(DOCKERFILE)
    (workdir / "app" / "app.sh").write_text(APP)
    routed_port, direct_port, metrics_port = free_port(), free_port(), free_port()
    prometheus = PrometheusServer([f"127.0.0.1:{metrics_port}"], job="router")
    env = {**os.environ, "ESCADRE_STATE": str(workdir / "state.db"), "COMPOSE_PROJECT_NAME": "escbenchroll"}
    (workdir / "compose.yaml").write_text(json.dumps(compose(routed_port, direct_port, metrics_port, prometheus.url)))
    try:
        escadre(workdir, env, "up")
        # --- router overhead: same load generator, same image, alternating ---------------------------
        direct_runs, routed_runs = [], []
        for _ in range(2):
            direct_runs.append(wrk(f"http://127.0.0.1:{direct_port}/index.html"))
            routed_runs.append(wrk(f"http://127.0.0.1:{routed_port}/index.html"))
        d_rps = statistics.median(r for r, _ in direct_runs)
        r_rps = statistics.median(r for r, _ in routed_runs)
        d_p50 = statistics.median(p for _, p in direct_runs)
        r_p50 = statistics.median(p for _, p in routed_runs)
        # --- abort latency ----------------------------------------------------------------------------
        prometheus.wait_for('haproxy_server_http_responses_total{proxy="be_web_8000"}', timeout=60)
        latencies, client_latencies, errors = [], [], 0
        for i in range(rounds):
            weight_back, last_v2, errs = abort_round(workdir, env, routed_port)
            latencies.append(weight_back)
            client_latencies.append(last_v2)
            errors += errs
            print(
                f"abort round {i + 1}/{rounds}: traffic back {weight_back:.2f} s after the first failure",
                file=sys.stderr,
            )
    finally:
        escadre(workdir, env, "down", "-v", check=False)
        prometheus.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    flagger = INTERVAL * 2  # threshold 2 tolerates one failure, like failure_limit: 1
    abort = statistics.median(latencies)
    print(
        "\nAbort latency: first failing measurement → 100 % of traffic back on stable "
        f"(analysis interval {INTERVAL:g} s, one failure tolerated; median of {rounds})"
    )
    print(f"  {'Flagger (interval × threshold, documented)':<46} {flagger:6.2f} s")
    print(
        f"  {'escadre: router weight back to 0':<46} {abort:6.2f} s   "
        f"= {abort / INTERVAL:.2f} intervals (goal <= 2), {flagger / abort:.1f}x sooner than Flagger"
    )
    print(f"  {'escadre: last v2 answer seen by the client':<46} {statistics.median(client_latencies):6.2f} s")
    print(f"  connection errors seen by the hammering client during {rounds} aborted rollouts: {errors}")
    print("\nRouter overhead: wrk -t2 -c16, busybox httpd static file, same run")
    print(f"  {'direct to the container':<30} {d_rps:9.0f} req/s   p50 {d_p50:6.2f} ms")
    print(f"  {'through the HAProxy router':<30} {r_rps:9.0f} req/s   p50 {r_p50:6.2f} ms")
    print(f"  throughput ratio (router / direct): {r_rps / d_rps:.2f}    p50 added: {r_p50 - d_p50:+.2f} ms")
    ok = abort <= 2 * INTERVAL and errors == 0
    print("\nall goals met" if ok else "\nGOAL MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
