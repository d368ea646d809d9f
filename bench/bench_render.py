"""Render a 100-service Compose file to Kubernetes manifests, validation included. Goal: < 0.5 s.

The file is generated: 100 services shaped like a real app (each with ports, a healthcheck, resources,
environment, two networks, depends_on; a third with a named volume, a config and a secret; some exposed
through an Ingress or a Gateway, some autoscaled, some one-shot jobs), about 600 objects once rendered.

Measured in one process, as `escadre render kubernetes` runs:
  * cold — the first render: translation + YAML + validation against one Kubernetes version, including
    loading and compiling that version's schemas (the figure the goal is about);
  * warm — the median of further renders (schemas already compiled), for reference;
  * the Compose loading (not part of the goal) is shown separately.

    .venv/bin/python bench/bench_render.py            # BENCH_ROUNDS=5 by default
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

SERVICES = 100
GOAL = 0.5


def compose_file(directory: Path) -> Path:
    (directory / "app.conf").write_text("listen 8080\nworkers 4\n")
    (directory / "secret.txt").write_text("not-a-real-secret\n")
    lines = ["services:"]
    for i in range(SERVICES):
        name = f"svc{i:03d}"
        lines += [
            f"  {name}:",
            f"    image: registry.example.com/shop/{name}:1.{i}.0",
            "    ports: ['8080']",
            "    environment:",
            f"      SERVICE_NAME: {name}",
            "      LOG_LEVEL: info",
            "    networks: [front, back]",
            "    read_only: true",
            "    cap_drop: [ALL]",
            "    user: '1000:1000'",
            "    deploy:",
            f"      replicas: {1 + i % 3}",
            "      resources:",
            "        limits: {cpus: '0.5', memory: 256M}",
            "        reservations: {cpus: '0.1', memory: 64M}",
        ]
        if i % 10 == 9:
            lines += ["    restart: 'no'", "    command: [migrate, --up]"]
        else:
            lines += [
                "    healthcheck:",
                "      test: [CMD, /bin/health]",
                "      interval: 5s",
                "      start_period: 10s",
            ]
        if i and i % 10 != 9:
            lines += ["    depends_on:", f"      svc{i - 1:03d}: {{condition: service_started}}"]
        if i % 3 == 0:
            lines += [f"    volumes: ['data{i:03d}:/data']", "    configs: [{source: conf, target: /etc/app.conf}]"]
            lines += ["    secrets: [token]"]
        if i % 7 == 0:
            lines += [
                "    x-kubernetes:",
                "      expose: {host: " + name + ".example.com, ingress_class: nginx, tls_secret: tls}",
            ]
        if i % 11 == 0:
            lines += ["    x-kubernetes:", "      expose: {host: " + name + ".example.org, gateway: infra/public}"]
        if i % 5 == 0 and i % 10 != 9:
            lines += ["    x-escadre:", "      autoscale: {min_replicas: 2, max_replicas: 6, cpu: 70}"]
    lines += ["networks:", "  front: {}", "  back: {internal: true}", "volumes:"]
    lines += [f"  data{i:03d}: {{}}" for i in range(0, SERVICES, 3)]
    lines += ["configs:", "  conf: {file: ./app.conf}", "secrets:", "  token: {file: ./secret.txt}"]
    text = "\n".join(lines) + "\n"
    # a service cannot carry two x-kubernetes keys: merge the Ingress and Gateway cases (i % 77 == 0)
    text = text.replace(
        "    x-kubernetes:\n      expose: {host: svc000.example.com, ingress_class: nginx, tls_secret: tls}\n"
        "    x-kubernetes:\n      expose: {host: svc000.example.org, gateway: infra/public}\n",
        "    x-kubernetes:\n      expose: {host: svc000.example.com, ingress_class: nginx, gateway: infra/public}\n",
    ).replace(
        "    x-kubernetes:\n      expose: {host: svc077.example.com, ingress_class: nginx, tls_secret: tls}\n"
        "    x-kubernetes:\n      expose: {host: svc077.example.org, gateway: infra/public}\n",
        "    x-kubernetes:\n      expose: {host: svc077.example.com, ingress_class: nginx, gateway: infra/public}\n",
    )
    path = directory / "compose.yaml"
    path.write_text(text)
    return path


def main() -> int:
    from escadre.spec import load_project

    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory() as tmp:
        compose = compose_file(Path(tmp))
        started = time.perf_counter()
        project = load_project([str(compose)], project_name="bench")
        loading = time.perf_counter() - started

        from escadre.drivers.kubernetes.render import render

        started = time.perf_counter()
        text = render(project, {"k8s_version": "1.31"})
        cold = time.perf_counter() - started
        warm = []
        for _ in range(rounds):
            started = time.perf_counter()
            render(project, {"k8s_version": "1.31"})
            warm.append(time.perf_counter() - started)
    objects = text.count("\n---\n") + text.startswith("---\n")
    verdict = "OK" if cold < GOAL else "SLOWER THAN THE GOAL"
    print(f"escadre render kubernetes — {SERVICES} services → {objects} objects, validated for Kubernetes 1.31")
    print(f"  render, cold (schemas loaded and compiled): {cold:.3f} s   goal < {GOAL} s: {verdict}")
    print(f"  render, warm (median of {rounds}):              {statistics.median(warm):.3f} s")
    print(f"  (loading the Compose file, not in the goal: {loading:.3f} s)")
    return 0 if cold < GOAL else 1


if __name__ == "__main__":
    raise SystemExit(main())
