"""Records the task corpus ``test_tasks.py`` reads: real daemon JSON for each situation ``tasks.py`` handles.

    .venv/bin/python -m tests.drivers.swarm.capture_tasks      # needs root and a Docker engine

Each scenario runs on a real swarm (the host engine, or the multi-node harness for a lost node) and
saves ``{"service": …, "tasks": […], "nodes": […]}`` under ``data/tasks/<scenario>.json``, trimmed to
the fields a driver reads. Re-run it when Swarm's JSON changes; the tests then say what moved.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

from tests.drivers.swarm.cluster import SwarmCluster
from tests.support import BUSYBOX, ensure_busybox_image

OUT = Path(__file__).parent / "data" / "tasks"
LABELS = {"escadre.managed": "true", "escadre.app": "corpus", "escadre.service": "web"}


def _trim_task(task: dict[str, Any]) -> dict[str, Any]:
    keep = ("ID", "Version", "CreatedAt", "UpdatedAt", "ServiceID", "Slot", "NodeID", "DesiredState", "Status")
    out = {k: task[k] for k in keep if k in task}
    spec = task.get("Spec") or {}
    out["Spec"] = {"ContainerSpec": spec.get("ContainerSpec") or {}}
    out["NetworksAttachments"] = [
        {"Network": {"ID": a["Network"]["ID"], "Spec": a["Network"]["Spec"]}, "Addresses": a.get("Addresses")}
        for a in task.get("NetworksAttachments") or []
    ]
    return out


def _trim_node(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "ID": node["ID"],
        "Spec": node.get("Spec"),
        "Description": {"Hostname": node["Description"]["Hostname"]},
        "Status": node.get("Status"),
    }


def save(api: docker.APIClient, name: str, service: str) -> None:
    svc = api.inspect_service(service)
    doc = {
        "service": {"ID": svc["ID"], "Spec": svc["Spec"], "UpdateStatus": svc.get("UpdateStatus")},
        "tasks": [_trim_task(t) for t in api.tasks(filters={"service": svc["ID"]})],
        "nodes": [_trim_node(n) for n in api.nodes()],
    }
    (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    print("saved", name)


def scenario(api: docker.APIClient, name: str, revision: str, args: list[str], settle: Callable[[], None]) -> None:
    labels = [f"--container-label={k}={v}" for k, v in {**LABELS, "escadre.revision": revision}.items()]
    subprocess.run(
        ["docker", "-H", api.base_url.replace("http+docker://localhost", "unix:///var/run/docker.sock"),
         "service", "create", "-d", "--name", f"corpus_{name}", *labels, *args],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        settle()
        save(api, name, f"corpus_{name}")
    finally:
        api.remove_service(f"corpus_{name}")


def main() -> None:
    ensure_busybox_image()
    OUT.mkdir(parents=True, exist_ok=True)
    api = docker.APIClient(version="auto")
    image = api.inspect_image(BUSYBOX)["Id"]
    net = "corpus_net"
    api.create_network(net, driver="overlay", attachable=True)
    try:
        scenario(api, "restarts", "r1", ["--network", net, "--restart-condition", "on-failure",
                 "--restart-delay", "1s", "--restart-max-attempts", "2", image, "sh", "-c", "exit 3"],
                 lambda: time.sleep(8))  # fmt: skip
        scenario(api, "oneshot", "r1", ["--restart-condition", "on-failure", image, "true"], lambda: time.sleep(4))
        scenario(api, "unschedulable", "r1", ["--constraint", "node.labels.zone==nowhere", image, "sleep", "1000"],
                 lambda: time.sleep(2))  # fmt: skip
        scenario(api, "health-starting", "r1", ["--network", net, "--health-cmd", "true", "--health-interval", "60s",
                 "--replicas", "2", image, "sleep", "1000"], lambda: time.sleep(4))  # fmt: skip

        def scale_down() -> None:
            time.sleep(3)
            subprocess.run(["docker", "service", "scale", "-d", "corpus_scaled=1"], check=True, capture_output=True)
            time.sleep(0.3)

        scenario(api, "scaled", "r1", ["--replicas", "3", "--init", image, "sleep", "1000"], scale_down)
    finally:
        time.sleep(3)
        api.remove_network(net)
    with SwarmCluster(workers=1) as cluster:
        cluster.load_image(BUSYBOX)
        remote = docker.APIClient(base_url=cluster.manager.host, version="auto")
        subprocess.run(
            ["docker", "-H", cluster.manager.host, "service", "create", "-d", "--name", "corpus_lost",
             *[f"--container-label={k}={v}" for k, v in {**LABELS, "escadre.revision": "r1"}.items()],
             "--replicas", "4", "--placement-pref", "spread=node.id", image, "sleep", "1000"],
            check=True, capture_output=True,
        )  # fmt: skip
        time.sleep(5)
        cluster.kill(cluster.worker(1))
        cluster.wait_node_state(cluster.worker(1), "down")
        time.sleep(0.5)
        save(remote, "node-down", "corpus_lost")
        remote.close()
    api.close()


if __name__ == "__main__":
    main()
