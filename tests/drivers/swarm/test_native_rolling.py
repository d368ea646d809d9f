"""Swarm's own rolling update (the ``rolling`` strategy on swarm), driven and watched through the driver.

``native_update`` updates a revision's service in place with ``deploy.update_config``; ``native_rollback``
is ``docker service rollback`` with ``rollback_config``. Progress comes from the task states.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from escadre.core.progress import CollectingProgress
from escadre.drivers.swarm import SwarmDriver
from escadre.drivers.swarm.update import UpdateProgress
from tests.drivers.swarm.helpers import compose, deploy, engine, ready, revision, until
from tests.support import BUSYBOX

pytestmark = [pytest.mark.docker, pytest.mark.slow]

APP = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", "{{command}}"]
    init: true
    environment: {{VERSION: "{{version}}"}}
    healthcheck: {{test: ["CMD", "true"], interval: 1s}}
    deploy:
      replicas: 3
      update_config: {{parallelism: 1, order: start-first, monitor: 2s, failure_action: {{action}}}}
      rollback_config: {{parallelism: 0, order: stop-first}}
"""
HEALTHY = "exec sleep 1000"
BROKEN = "sleep 0.5; exit 3"


def project(tmp_path: Path, app: str, version: str, command: str = HEALTHY, action: str = "rollback"):  # type: ignore[no-untyped-def]
    text = APP.replace("{command}", command).replace("{version}", version).replace("{action}", action)
    return compose(tmp_path, app, text)


def run(steps: list[UpdateProgress], iterator: object) -> UpdateProgress:
    for step in iterator:  # type: ignore[attr-defined]
        steps.append(step)
    return steps[-1]


def test_a_rolling_update_runs_in_place_with_update_config(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    v1 = project(tmp_path, app, "1")
    r1 = deploy(swarm, v1, "web")
    until(ready(swarm, app, "web", r1.id, 3), what="v1 ready")
    with engine() as api:
        (before,) = api.services(filters={"label": f"escadre.app={app}"})
    v2 = project(tmp_path, app, "2")
    r2 = revision(swarm, v2, "web")
    steps: list[UpdateProgress] = []
    final = run(steps, swarm.native_update(v2, r2, 3, CollectingProgress(), from_revision=r1.id))
    assert final.ok, final.describe()
    assert final.updated == 3 and final.total == 3
    counts = [s.updated for s in steps]
    assert counts == sorted(counts) and len(set(counts)) >= 3  # one task at a time (parallelism 1)
    with engine() as api:
        (after,) = api.services(filters={"label": f"escadre.app={app}"})
    assert after["ID"] == before["ID"] and after["Spec"]["Name"] == before["Spec"]["Name"]  # in place
    assert after["Spec"]["Labels"]["escadre.revision"] == r2.id
    assert after["Spec"]["UpdateConfig"]["Parallelism"] == 1 and after["Spec"]["UpdateConfig"]["Order"] == "start-first"
    (status,) = swarm.observe(app, "web").for_service("web")
    assert status.revision == r2.id and status.ready == 3


def test_a_failing_update_is_rolled_back_by_swarm(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    v1 = project(tmp_path, app, "1")
    r1 = deploy(swarm, v1, "web")
    until(ready(swarm, app, "web", r1.id, 3), what="v1 ready")
    broken = project(tmp_path, app, "2", BROKEN, action="rollback")
    r2 = revision(swarm, broken, "web")
    steps: list[UpdateProgress] = []
    final = run(steps, swarm.native_update(broken, r2, 3, CollectingProgress(), from_revision=r1.id))
    assert final.state == "rollback_completed", [s.describe() for s in steps]
    assert any("non-zero exit (3)" in f for s in steps for f in s.failures)
    until(ready(swarm, app, "web", r1.id, 3), what="v1 back")
    assert [r.revision for r in swarm.observe(app, "web").for_service("web")] == [r1.id]


def test_a_paused_update_is_rolled_back_on_request(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    v1 = project(tmp_path, app, "1", action="pause")
    r1 = deploy(swarm, v1, "web")
    until(ready(swarm, app, "web", r1.id, 3), what="v1 ready")
    broken = project(tmp_path, app, "2", BROKEN, action="pause")
    r2 = revision(swarm, broken, "web")
    paused = run([], swarm.native_update(broken, r2, 3, CollectingProgress(), from_revision=r1.id))
    assert paused.state == "paused", paused.describe()
    steps: list[UpdateProgress] = []
    final = run(steps, swarm.native_rollback(app, "web", r2.id, CollectingProgress()))
    assert final.state == "rollback_completed", [s.describe() for s in steps]
    assert final.revision == r1.id
    until(ready(swarm, app, "web", r1.id, 3), what="v1 back")
