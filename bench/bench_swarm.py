"""`escadre up --target swarm` against `docker stack deploy` on the same stack file, same swarm, same run.

Both deploy the same file — `STACK_FILE` below, written to a temporary directory: ten services, fifteen
tasks, in the 3.9 format `docker stack deploy` reads — cold (images present, nothing deployed),
alternately, `BENCH_ROUNDS` times (default 3). One poller, the same for both, reads the swarm's tasks
through the Engine API and stops the clock when every task of every service is `running` (a task with a
healthcheck is `running` only once healthy). The median of each is printed with the ratio; the goal is
escadre ≤ 1.2 × docker stack deploy.

Needs a local engine that is (or can become) a swarm manager, and the busybox test image (bench/run
builds it). Standalone: .venv/bin/python bench/bench_swarm.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker
import yaml

from escadre.core.seal import Sealer

HERE = Path(__file__).parent
STACK_FILE = """\
# Ten services, 15 tasks, in the legacy 3.9 format so that `docker stack deploy` reads the very file escadre
# reads. Images are the local busybox image bench/run builds (no registry needed). No published port: on
# a kernel without IPVS the ingress mesh does not route (docs/swarm.md), and the figure is the time until
# every task runs.
version: "3.9"
x-loop: &loop ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
x-health: &health
  test: ["CMD", "true"]
  interval: 1s
  timeout: 2s
  retries: 3

services:
  db:
    image: escadre-test/busybox:1
    command: *loop
    healthcheck: *health
    volumes: [dbdata:/data]
  cache:
    image: escadre-test/busybox:1
    command: *loop
    healthcheck: *health
  api:
    image: escadre-test/busybox:1
    command: *loop
    environment: {DB_HOST: db, CACHE_HOST: cache}
    healthcheck: *health
    depends_on: [db, cache]
    deploy: {replicas: 3}
  worker:
    image: escadre-test/busybox:1
    command: *loop
    depends_on: [db, cache]
    deploy: {replicas: 2}
  scheduler:
    image: escadre-test/busybox:1
    command: *loop
    depends_on: [db]
  search:
    image: escadre-test/busybox:1
    command: *loop
  mailer:
    image: escadre-test/busybox:1
    command: *loop
  web:
    image: escadre-test/busybox:1
    command: *loop
    healthcheck: *health
    depends_on: [api]
    deploy: {replicas: 3}
  proxy:
    image: escadre-test/busybox:1
    command: *loop
    depends_on: [web, api]
  reports:
    image: escadre-test/busybox:1
    command: *loop

volumes:
  dbdata: {}
"""
ESCADRE = [sys.executable, "-m", "escadre.cli.main"]
TASKS = sum((svc.get("deploy") or {}).get("replicas", 1) for svc in yaml.safe_load(STACK_FILE)["services"].values())
TIMEOUT = 120.0


def swarm_manager() -> None:
    state = subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if state != "active":
        subprocess.run(["docker", "swarm", "init", "--advertise-addr", "127.0.0.1"], capture_output=True, check=True)


def running(api: docker.APIClient, label: str) -> int:
    raw: Any = api
    services = raw.services(filters={"label": label})
    if not services:
        return 0
    tasks = raw.tasks(filters={"service": [s["ID"] for s in services], "desired-state": "running"})
    return sum(1 for t in tasks if t["Status"]["State"] == "running")


def timed(cmd: list[str], env: dict[str, str], api: docker.APIClient, label: str) -> tuple[float, float]:
    """(seconds until every task runs, seconds until the command returned)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready: float | None = None
    returned: float | None = None
    while time.perf_counter() - started < TIMEOUT and (ready is None or returned is None):
        if ready is None and running(api, label) >= TASKS:
            ready = time.perf_counter() - started
        if returned is None and proc.poll() is not None:
            returned = time.perf_counter() - started
            if proc.returncode != 0:
                out, err = proc.communicate()
                raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}\n{err}")
        time.sleep(0.05)
    out, err = proc.communicate(timeout=TIMEOUT)
    if ready is None or returned is None:
        raise SystemExit(f"{' '.join(cmd)} did not bring every task up in {TIMEOUT:.0f}s:\n{out}\n{err}")
    return ready, returned


def gone(api: docker.APIClient, label: str) -> None:
    """Wait until the previous deployment's services and networks are gone (so rounds do not overlap)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        raw: Any = api
        if not raw.services(filters={"label": label}) and not api.networks(filters={"label": label}):
            return
        time.sleep(0.2)


def measure(rounds: int) -> dict[str, list[float]]:
    swarm_manager()
    api = docker.APIClient(version="auto")
    state = tempfile.mkdtemp(prefix="escadre-bench-swarm-")
    stack_file = Path(state) / "stack10.yaml"
    stack_file.write_text(STACK_FILE)
    env = {**os.environ, "ESCADRE_STATE": f"{state}/state.db", "ESCADRE_DATA_DIR": f"{state}/data"}
    # the sealing key is created up front: services deployed in parallel would all try to create it at once
    Sealer(Path(f"{state}/data")).seal({})
    subprocess.run(
        [*ESCADRE, "target", "add", "bench-swarm", "--kind", "swarm"], env=env, check=True, capture_output=True
    )
    results: dict[str, list[float]] = {"stack": [], "stack_cmd": [], "escadre": [], "escadre_cmd": []}
    try:
        for i in range(rounds):
            stack, project = f"bstk{os.getpid()}x{i}", f"besc{os.getpid()}x{i}"
            ready, took = timed(
                ["docker", "stack", "deploy", "-c", str(stack_file), stack],
                env,
                api,
                f"com.docker.stack.namespace={stack}",
            )
            results["stack"].append(ready)
            results["stack_cmd"].append(took)
            subprocess.run(["docker", "stack", "rm", stack], capture_output=True, check=False)
            gone(api, f"com.docker.stack.namespace={stack}")
            ready, took = timed(
                [*ESCADRE, "up", "-f", str(stack_file), "-p", project, "--target", "bench-swarm"],
                env,
                api,
                f"escadre.app={project}",
            )
            results["escadre"].append(ready)
            results["escadre_cmd"].append(took)
            subprocess.run(
                [*ESCADRE, "down", "-v", "-p", project, "--target", "bench-swarm"],
                env=env,
                capture_output=True,
                check=False,
            )
            gone(api, f"escadre.app={project}")
            deadline = time.monotonic() + 30  # the stack's volume is free once its containers are gone
            while time.monotonic() < deadline:
                removed = subprocess.run(
                    ["docker", "volume", "rm", f"{stack}_dbdata"], capture_output=True, check=False
                )
                if removed.returncode == 0 or b"no such volume" in removed.stderr.lower():
                    break
                time.sleep(0.3)
    finally:
        api.close()
        shutil.rmtree(state, ignore_errors=True)
    return results


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    results = measure(rounds)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"swarm: {TASKS} tasks of the same stack file, median of {rounds} rounds (seconds until every task runs)")
    print(f"  docker stack deploy   {med['stack']:6.2f}  (command returns after {med['stack_cmd']:.2f})")
    print(f"  escadre up            {med['escadre']:6.2f}  (command returns after {med['escadre_cmd']:.2f}, ready)")
    ratio = med["escadre"] / med["stack"]
    print(f"  ratio escadre / stack {ratio:6.2f}  (goal <= 1.20) {'OK' if ratio <= 1.2 else 'MISSED'}")
    print("  rounds:", ", ".join(f"{k}={[round(x, 2) for x in v]}" for k, v in results.items()))


if __name__ == "__main__":
    main()
