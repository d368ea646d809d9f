"""The rollout engine driving Swarm's own rolling update through the driver's ``native_update`` seam.

Plain ``rolling`` on a swarm updates the revision's service in place, a failure Swarm rolls back ends
``aborted``, and ``escadre abort`` during a paused update rolls it back.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from escadre.drivers.swarm import SwarmDriver
from escadre.model.project import Project
from escadre.operations.context import Context
from escadre.operations.deploy import up
from escadre.operations.rollouts import command
from tests.drivers.swarm.helpers import compose, engine
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
"""
HEALTHY = "exec sleep 1000"
BROKEN = "sleep 0.5; exit 3"


def project(tmp_path: Path, app: str, version: str, command: str = HEALTHY, action: str = "rollback") -> Project:
    text = APP.replace("{command}", command).replace("{version}", version).replace("{action}", action)
    return compose(tmp_path, app, text)


def service_of(app: str) -> dict[str, Any]:
    with engine() as api:
        (found,) = api.services(filters={"label": f"escadre.app={app}"})
    return dict(found)


def test_rolling_is_swarms_own_update_in_place(swarm: SwarmDriver, app: str, tmp_path: Path, ctx: Context) -> None:
    ctx.attach(swarm)
    assert up(ctx, project(tmp_path, app, "1"), target=swarm.name).ok
    before = service_of(app)
    assert up(ctx, project(tmp_path, app, "2"), target=swarm.name).ok
    after = service_of(app)
    assert after["ID"] == before["ID"]  # updated in place, not a second service
    assert after["Spec"]["Labels"]["escadre.revision"] != before["Spec"]["Labels"]["escadre.revision"]
    broken = up(ctx, project(tmp_path, app, "3", BROKEN), target=swarm.name)
    assert not broken.ok and "aborted" in broken.outcomes[0].message
    (status,) = swarm.observe(app, "web").for_service("web")
    assert status.revision == after["Spec"]["Labels"]["escadre.revision"] and status.ready == 3
    updates = [e.message for e in ctx.store.events(project=app, limit=200) if e.kind == "rollout.update"]
    assert any(m.startswith("completed: 3/3") for m in updates), updates
    assert any(m.startswith("rollback completed") for m in updates), updates


def test_abort_during_a_paused_update_rolls_it_back(swarm: SwarmDriver, app: str, tmp_path: Path, ctx: Context) -> None:
    ctx.attach(swarm)
    assert up(ctx, project(tmp_path, app, "1", action="pause"), target=swarm.name).ok
    (stable,) = swarm.observe(app, "web").for_service("web")
    result: list[Any] = []
    broken = project(tmp_path, app, "2", BROKEN, "pause")
    worker = threading.Thread(target=lambda: result.append(up(ctx, broken, target=swarm.name)), daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(e.kind == "rollout.paused" for e in ctx.store.events(project=app, limit=100)):
            break
        time.sleep(0.3)
    command(ctx, app, "abort", target=swarm.name, service="web")
    worker.join(90)
    assert result and not result[0].ok
    (back,) = swarm.observe(app, "web").for_service("web")
    assert back.revision == stable.revision
