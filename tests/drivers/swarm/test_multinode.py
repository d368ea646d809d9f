"""A real multi-node swarm on this machine (``cluster.py``): a manager and two workers, each its own dockerd
in its own network namespace, joined with real tokens; plus one engine outside the swarm.

Proves what a single-node swarm cannot: placement constraints and preferences, the router reaching tasks
on other nodes over the overlay, and rollouts that survive the loss of a worker (its dockerd, containerd,
shims and containers SIGKILLed, its link cut). The two node-loss tests come last: they kill the workers.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from escadre.core.errors import UsageError
from escadre.core.progress import CollectingProgress
from escadre.drivers.base import TrafficPlan
from escadre.drivers.engine.client import Connection
from escadre.drivers.swarm import SwarmDriver
from escadre.drivers.swarm.update import UpdateProgress
from escadre.operations.context import Context
from escadre.operations.deploy import up
from tests.drivers.swarm.cluster import SwarmCluster
from tests.drivers.swarm.helpers import compose, deploy, ready, revision, until
from tests.support import BUSYBOX

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def nodes_of(driver: SwarmDriver, app: str, service: str) -> Counter[str]:
    status = driver.observe(app, service)
    return Counter(i.node or "" for r in status.for_service(service) for i in r.instances if i.state == "running")


def test_an_engine_that_is_not_a_manager_is_refused_with_the_way_out(cluster: SwarmCluster, tmp_path: Path) -> None:
    worker = SwarmDriver("w", Connection(host=cluster.worker(1).host))
    outsider = SwarmDriver("o", Connection(host=cluster.outsider.host))
    try:
        with pytest.raises(UsageError, match="is a swarm worker") as err:
            worker.info()
        assert "docker node promote" in str(err.value)
        with pytest.raises(UsageError, match=r"is not part of a swarm \(swarm: inactive\)") as err:
            outsider.ensure_shared(compose(tmp_path, "x", "services: {a: {image: x}}"), CollectingProgress())
        assert "docker swarm init" in str(err.value)
    finally:
        worker.close()
        outsider.close()


def test_placement_constraints_preferences_and_max_replicas(
    cluster: SwarmCluster, cluster_driver: SwarmDriver, cluster_app: str, tmp_path: Path
) -> None:
    for node, zone in ((cluster.manager, "m"), (cluster.worker(1), "a"), (cluster.worker(2), "b")):
        cluster.label(node, "zone", zone)
    project = compose(
        tmp_path,
        cluster_app,
        f"""
        services:
          pinned:
            image: {BUSYBOX}
            command: [sleep, "1000"]
            init: true
            deploy: {{replicas: 3, placement: {{constraints: ["node.labels.zone == a"]}}}}
          workers:
            image: {BUSYBOX}
            command: [sleep, "1000"]
            init: true
            deploy: {{replicas: 4, placement: {{constraints: ["node.role == worker"]}}}}
          spread:
            image: {BUSYBOX}
            command: [sleep, "1000"]
            init: true
            deploy: {{replicas: 6, placement: {{preferences: [{{spread: node.labels.zone}}]}}}}
          one-per-node:
            image: {BUSYBOX}
            command: [sleep, "1000"]
            init: true
            deploy: {{replicas: 3, placement: {{max_replicas_per_node: 1}}}}
        """,
    )
    revs = {name: deploy(cluster_driver, project, name) for name in project.services}
    for name, rev in revs.items():
        until(ready(cluster_driver, cluster_app, name, rev.id, project.services[name].replicas), what=f"{name} ready")
    assert nodes_of(cluster_driver, cluster_app, "pinned") == {cluster.worker(1).name: 3}
    assert set(nodes_of(cluster_driver, cluster_app, "workers")) == {cluster.worker(1).name, cluster.worker(2).name}
    assert sorted(nodes_of(cluster_driver, cluster_app, "spread").values()) == [2, 2, 2]
    assert set(nodes_of(cluster_driver, cluster_app, "one-per-node").values()) == {1}
    assert len(nodes_of(cluster_driver, cluster_app, "one-per-node")) == 3


ROUTED = f"""
services:
  web:
    image: {BUSYBOX}
    hostname: "{{{{.Node.Hostname}}}}"
    init: true
    command:
      - sh
      - -c
      - mkdir -p /www && echo $$VERSION $$(hostname) > /www/index.html && exec httpd -f -p 8000 -h /www
    environment: {{VERSION: "{{version}}"}}
    ports: ["{{port}}:8000"]
    deploy: {{replicas: 2, placement: {{constraints: ["node.role == worker"]}}}}
    x-escadre: {{rollout: {{strategy: canary, steps: [{{set_weight: 50}}]}}}}
"""


def test_the_router_on_the_manager_splits_traffic_to_tasks_on_the_workers(
    cluster: SwarmCluster, cluster_driver: SwarmDriver, cluster_app: str, tmp_path: Path
) -> None:
    port = 18500
    v1 = compose(tmp_path, cluster_app, ROUTED.replace("{version}", "v1").replace("{port}", str(port)))
    v2 = compose(tmp_path, cluster_app, ROUTED.replace("{version}", "v2").replace("{port}", str(port)))
    progress = CollectingProgress()
    cluster_driver.ensure_shared(v1, progress)
    r1, r2 = revision(cluster_driver, v1, "web"), revision(cluster_driver, v2, "web")
    cluster_driver.apply_revision(v1, r1, 2, progress)
    cluster_driver.apply_revision(v2, r2, 2, progress)
    until(ready(cluster_driver, cluster_app, "web", r1.id, 2), what="v1 ready")
    until(ready(cluster_driver, cluster_app, "web", r2.id, 2), what="v2 ready")
    assert cluster_driver.route(v2, "web", TrafficPlan(stable=r1.id, canary=r2.id, canary_weight=50), progress)

    def hits(n: int) -> Counter[str]:
        seen: Counter[str] = Counter()
        for _ in range(n):
            with urllib.request.urlopen(f"http://{cluster.manager.address}:{port}/", timeout=5) as r:
                seen[r.read().decode().strip()] += 1
        return seen

    time.sleep(1.5)  # HAProxy's first health checks of the new servers
    seen = hits(80)
    versions = Counter(body.split()[0] for body in seen.elements())
    assert 25 <= versions["v2"] <= 55, seen
    hosts = {body.split()[1] for body in seen}
    assert hosts == {cluster.worker(1).name, cluster.worker(2).name}  # served across nodes
    assert cluster_driver.route(v2, "web", TrafficPlan(stable=r1.id), progress)
    time.sleep(0.5)
    assert {body.split()[0] for body in hits(20)} == {"v1"}


BUILT = """
services:
  web:
    build: ./app
    init: true
    command: [sleep, "1000"]
    deploy: {replicas: 3, placement: {max_replicas_per_node: 1}}
"""


def test_a_built_image_reaches_every_node_through_the_targets_registry(
    cluster: SwarmCluster, cluster_app: str, tmp_path: Path
) -> None:
    if not cluster.registry:
        pytest.skip("Debian's docker-registry is not installed (apt-get install docker-registry)")
    driver = SwarmDriver("multinode", Connection(host=cluster.manager.host), registry=cluster.registry_address)
    try:
        project = compose(
            tmp_path, cluster_app, BUILT, files={"app/Dockerfile": f"FROM {BUSYBOX}\nRUN echo built > /built\n"}
        )
        progress = CollectingProgress()
        driver.ensure_shared(project, progress)
        rev = revision(driver, project, "web")  # built on the manager, pushed to the registry
        assert rev.image.startswith(f"{cluster.registry_address}/{cluster_app}-web@sha256:")
        driver.apply_revision(project, rev, 3, progress)
        until(ready(driver, cluster_app, "web", rev.id, 3), what="a task on every node")
        assert len(nodes_of(driver, cluster_app, "web")) == 3  # the workers pulled it
    finally:
        driver.remove_app(cluster_app, CollectingProgress())
        driver.close()


APP = f"""
services:
  web:
    image: {BUSYBOX}
    init: true
    command: ["sh", "-c", "mkdir -p /www && echo $$VERSION > /www/index.html && exec httpd -f -p 8000 -h /www"]
    environment: {{VERSION: "{{version}}"}}
    expose: ["8000"]
    healthcheck: {{test: ["CMD", "true"], interval: 1s}}
    deploy:
      replicas: 4
      update_config: {{parallelism: 1, delay: 1s, order: start-first, monitor: 1s, failure_action: pause}}
    x-escadre: {{xescadre}}
"""
ROLLING = "{rollout: {strategy: rolling}}"
# routed: Escadre's router (a container on the manager) splits the traffic over the overlay
CANARY = "{rollout: {strategy: canary, scale_down_delay: 0, steps: [{set_weight: 50}, {pause: 4s}]}}"


def app_project(tmp_path: Path, name: str, version: str, settings: str = ROLLING):  # type: ignore[no-untyped-def]
    return compose(tmp_path, name, APP.replace("{version}", version).replace("{xescadre}", settings))


def test_a_native_rolling_update_survives_losing_a_worker(
    cluster: SwarmCluster, cluster_driver: SwarmDriver, cluster_app: str, tmp_path: Path
) -> None:
    lost = cluster.worker(2)
    v1 = app_project(tmp_path, cluster_app, "1")
    r1 = deploy(cluster_driver, v1, "web")
    until(ready(cluster_driver, cluster_app, "web", r1.id, 4), what="v1 ready")
    assert lost.name in nodes_of(cluster_driver, cluster_app, "web")
    v2 = app_project(tmp_path, cluster_app, "2")
    r2 = revision(cluster_driver, v2, "web")
    steps: list[UpdateProgress] = []
    for step in cluster_driver.native_update(v2, r2, 4, CollectingProgress(), from_revision=r1.id):
        steps.append(step)
        if step.updated == 2 and lost.alive:
            cluster.kill(lost)  # mid-update: a third of the tasks disappear with their node
    assert not lost.alive
    assert steps[-1].ok, [s.describe() for s in steps]
    cluster.wait_node_state(lost, "down")
    until(ready(cluster_driver, cluster_app, "web", r2.id, 4), what="4 v2 tasks on the survivors")
    placed = nodes_of(cluster_driver, cluster_app, "web")
    assert lost.name not in placed and sum(placed.values()) == 4
    assert [r.revision for r in cluster_driver.observe(cluster_app, "web").for_service("web")] == [r2.id]


def test_an_escadre_canary_survives_losing_a_worker(
    cluster: SwarmCluster, cluster_driver: SwarmDriver, cluster_app: str, tmp_path: Path, ctx: Context
) -> None:
    lost = cluster.worker(1)
    ctx.attach(cluster_driver)
    v1 = app_project(tmp_path, cluster_app, "1", CANARY)
    assert up(ctx, v1, target="multinode").ok
    (stable,) = cluster_driver.observe(cluster_app, "web").for_service("web")
    assert lost.name in nodes_of(cluster_driver, cluster_app, "web")
    v2 = app_project(tmp_path, cluster_app, "2", CANARY)
    outcome: list[bool] = []
    worker = threading.Thread(target=lambda: outcome.append(up(ctx, v2, target="multinode").ok), daemon=True)
    worker.start()

    def paused() -> bool:
        return any("pause 4s" in e.detail for e in ctx.progress.events)  # type: ignore[attr-defined]

    until(paused, what="the canary's pause")
    cluster.kill(lost)  # canary and stable tasks on that node are lost mid-rollout
    worker.join(180)
    assert outcome == [True]
    (final,) = cluster_driver.observe(cluster_app, "web").for_service("web")
    assert final.revision != stable.revision and final.ready == 4
    assert lost.name not in nodes_of(cluster_driver, cluster_app, "web")
