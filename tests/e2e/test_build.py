"""``build:`` on the real engine: output shown, skipped when sources are unchanged, rebuilt when not."""

from __future__ import annotations

import json

import docker
import pytest

from tests.e2e.conftest import Workspace
from tests.support import BUSYBOX

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def dockerfile(extra: str = "") -> str:
    return f"""
    FROM {BUSYBOX} AS base
    ARG GREETING=hi
    COPY message.txt /message.txt
    RUN echo "$GREETING" > /greeting.txt{extra}

    FROM base AS final
    CMD ["sh", "-c", "cat /greeting.txt /message.txt; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    """


COMPOSE = """
services:
  app:
    build:
      context: ./app
      target: final
      args:
        GREETING: hello-from-args
    init: true
"""


def test_build_then_skip_then_rebuild_on_change(ws: Workspace) -> None:
    ws.write("compose.yaml", COMPOSE)
    ws.write("app/Dockerfile", dockerfile())
    ws.write("app/message.txt", "v1\n")
    ws.write("app/.dockerignore", "ignored.txt\n")
    first = ws.run("up")
    assert "Step 1/" in first.stderr  # the build output is shown
    logs = ws.run("logs", "app").stdout
    assert "hello-from-args" in logs and "v1" in logs
    rev1 = json.loads(ws.run("ps", "--json").stdout)["revisions"][0]["revision"]

    second = ws.run("up")
    assert "Step 1/" not in second.stderr and "image up to date" in second.stderr
    assert "1 unchanged" in second.stdout

    ws.write("app/ignored.txt", "does not matter\n")  # excluded by .dockerignore: no rebuild
    assert "1 unchanged" in ws.run("up").stdout

    ws.write("app/message.txt", "v2\n")
    plan = json.loads(ws.run("plan", "--json").stdout)
    assert plan["changes"][0]["action"] == "update" and plan["changes"][0]["image_pending"]
    third = ws.run("up")
    assert "1 updated" in third.stdout
    status = json.loads(ws.run("ps", "--json").stdout)["revisions"]
    assert [r["revision"] for r in status] != [rev1]
    assert "v2" in ws.run("logs", "app").stdout


def test_failed_build_is_one_clear_error(ws: Workspace) -> None:
    ws.write("compose.yaml", COMPOSE)
    ws.write("app/Dockerfile", dockerfile(extra=" && false"))
    ws.write("app/message.txt", "v1\n")
    result = ws.run("up", check=False)
    assert result.returncode == 1
    assert "failed to build" in result.stderr
    assert "Traceback" not in result.stderr
    assert docker.from_env().containers.list(all=True, filters={"label": f"escadre.app={ws.name}"}) == []


def test_forced_build_reuses_the_layer_cache(ws: Workspace) -> None:
    ws.write("compose.yaml", COMPOSE)
    ws.write("app/Dockerfile", dockerfile())
    ws.write("app/message.txt", "v1\n")
    ws.run("up")
    forced = ws.run("up", "--build")
    assert "Using cache" in forced.stderr
    assert "1 unchanged" in forced.stdout  # same image id: same revision
