"""`escadre up` against Debian's `docker-compose up -d` on the same 10-service file, same engine, same run.

Measures, with the median of several rounds:
  * cold deploy (images present, no container): escadre up --no-wait (same contract as compose up -d:
    started, depends_on conditions honoured) and escadre up (also waits until every service is ready);
  * a second `escadre up` with nothing changed (goal < 1 s), right away and once the engine's own health
    status has settled;
  * `escadre --help` (goal < 0.3 s).
Prints a side-by-side table and the ratios. Run it with bench/run.
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

HERE = Path(__file__).parent
ROOT = HERE.parent
COMPOSE = HERE / "compose10.yaml"
ESCADRE = [sys.executable, "-m", "escadre.cli.main"]
PROJECT = "escbench"


def run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=HERE, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return took


def settle(timeout: float = 60) -> None:
    """Wait until the engine itself reports every container with a healthcheck as healthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["docker", "ps", "--filter", f"label=escadre.app={PROJECT}", "--format", "{{.Status}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if "starting" not in out:
            return
        time.sleep(0.2)


def clean(env: dict[str, str]) -> None:
    subprocess.run(
        [*ESCADRE, "down", "-v", "-f", str(COMPOSE), "-p", PROJECT], env=env, capture_output=True, check=False
    )
    subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "-p", PROJECT, "down", "-v", "-t", "1"],
        env=env,
        capture_output=True,
        check=False,
    )


def measure(rounds: int, interval: str) -> dict[str, float]:
    state = tempfile.mkdtemp(prefix="escadre-bench-")
    env = {**os.environ, "ESCADRE_STATE": f"{state}/state.db", "COMPOSE_PROJECT_NAME": PROJECT, "HC_INTERVAL": interval}
    results: dict[str, list[float]] = {
        k: [] for k in ("compose", "escadre_nowait", "escadre_wait", "noop_now", "noop", "help")
    }
    try:
        for i in range(rounds):
            clean(env)
            results["compose"].append(run(["docker-compose", "-f", str(COMPOSE), "-p", PROJECT, "up", "-d"], env))
            clean(env)
            results["escadre_nowait"].append(run([*ESCADRE, "up", "--no-wait", "-f", str(COMPOSE)], env))
            clean(env)
            results["escadre_wait"].append(run([*ESCADRE, "up", "-f", str(COMPOSE)], env))
            results["noop_now"].append(run([*ESCADRE, "up", "-f", str(COMPOSE)], env))
            settle()
            results["noop"].append(run([*ESCADRE, "up", "-f", str(COMPOSE)], env))
            results["help"].append(run([*ESCADRE, "--help"], env))
            print(f"healthcheck interval {interval}: round {i + 1}/{rounds} done", file=sys.stderr)
    finally:
        clean(env)
        shutil.rmtree(state, ignore_errors=True)
    return {k: statistics.median(v) for k, v in results.items()}


def show(title: str, med: dict[str, float], rounds: int) -> float:
    ratio = med["compose"] / med["escadre_nowait"]
    print(f"\n{title} (median of {rounds} rounds)")
    print(f"  {'docker-compose 1.29 up -d':<40} {med['compose']:7.2f} s")
    print(f"  {'escadre up --no-wait':<40} {med['escadre_nowait']:7.2f} s   {ratio:.2f}x faster")
    print(
        f"  {'escadre up (waits until all ready)':<40} {med['escadre_wait']:7.2f} s   "
        f"{med['compose'] / med['escadre_wait']:.2f}x faster"
    )
    print(
        f"  {'escadre up, nothing changed, at once':<40} {med['noop_now']:7.2f} s   "
        "(health still 'starting' on the engine: Escadre probes it)"
    )
    print(f"  {'escadre up, nothing changed, settled':<40} {med['noop']:7.2f} s   (goal < 1 s)")
    print(f"  {'escadre --help':<40} {med['help']:7.3f} s   (goal < 0.3 s)")
    return ratio


def main() -> None:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    if shutil.which("docker-compose") is None:
        raise SystemExit("docker-compose is not installed: apt-get install -y docker-compose")
    typical = measure(rounds, "5s")
    short = measure(rounds, "1s")
    print("\n10-service cold deploy, same file, same engine, same run (bench/compose10.yaml)")
    ratio = show("healthcheck interval 5s (typical; goal: escadre >= 1.5x faster)", typical, rounds)
    show("healthcheck interval 1s (Escadre's worst case: little health waiting to save)", short, rounds)
    ok = ratio >= 1.5 and typical["noop"] < 1.0 and typical["help"] < 0.3
    print("\nall goals met" if ok else "\nGOAL MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
