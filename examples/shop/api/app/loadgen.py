"""Load generator (the ``loadgen`` service, profile ``tools``): steady traffic through the proxy.

Each request picks: the page (40 %), the visit counter (30 %), the order list (20 %) or a new order (10 %).
Every REPORT seconds it prints requests, errors, p50/p95 latency and which API replicas answered, which
makes rollouts visible: during a canary or rolling update you see the new replicas take over.

Env: TARGET_URL (default http://proxy), RATE requests/second (default 5), DURATION seconds (0 = forever),
REPORT seconds (default 10).
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request

ITEMS = ["coffee", "tea", "croissant", "bagel", "muffin", "espresso", "lemonade", "cookie"]


def request(base: str) -> tuple[int, str | None]:
    roll = random.random()
    data = None
    if roll < 0.4:
        path = "/"
    elif roll < 0.7:
        path = "/api/visits"
    elif roll < 0.9:
        path = "/api/orders?limit=5"
    else:
        path = "/api/orders"
        data = json.dumps({"item": random.choice(ITEMS), "quantity": random.randint(1, 3)}).encode()
    req = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            resp.read()
            return resp.status, resp.headers.get("X-Served-By")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("X-Served-By")
    except Exception:
        return 0, None


def main() -> int:
    base = os.environ.get("TARGET_URL", "http://proxy").rstrip("/")
    rate = max(float(os.environ.get("RATE", "5")), 0.1)
    duration = float(os.environ.get("DURATION", "0"))
    every = float(os.environ.get("REPORT", "10"))
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"loadgen: {rate:g} req/s against {base}" + (f" for {duration:g}s" if duration else ""), flush=True)
    start = last = time.monotonic()
    lat: list[float] = []
    codes: collections.Counter[int] = collections.Counter()
    replicas: collections.Counter[str] = collections.Counter()
    total_errors = 0
    while not stop and not (duration and time.monotonic() - start >= duration):
        t0 = time.monotonic()
        status, served_by = request(base)
        lat.append(time.monotonic() - t0)
        codes[status] += 1
        if served_by:
            replicas[served_by] += 1
        if time.monotonic() - last >= every:
            lat.sort()
            errors = sum(n for c, n in codes.items() if c == 0 or c >= 500)
            total_errors += errors
            print(
                f"loadgen: {len(lat)} req, {errors} errors, p50 {lat[len(lat) // 2] * 1000:.0f} ms, "
                f"p95 {lat[int(len(lat) * 0.95)] * 1000:.0f} ms, status {dict(sorted(codes.items()))}, "
                f"api replicas {dict(replicas)}",
                flush=True,
            )
            lat.clear(), codes.clear(), replicas.clear()
            last = time.monotonic()
        time.sleep(max(0.0, 1 / rate - (time.monotonic() - t0)))
    total_errors += sum(n for c, n in codes.items() if c == 0 or c >= 500)
    print(f"loadgen: stopped after {time.monotonic() - start:.0f}s, {total_errors} errors", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
