"""A multi-service app through its whole life with the real CLI on the real engine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import docker
import pytest

from tests.e2e.conftest import Workspace, free_port
from tests.support import BUSYBOX

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LOOP = "trap 'exit 0' TERM; while :; do sleep 0.2; done"


def compose(port: int) -> str:
    return f"""
    services:
      db:
        image: {BUSYBOX}
        command:
          - sh
          - -c
          - mkdir -p /www && echo db-says-$$DB_GREETING > /www/index.html && httpd -f -p 5432 -h /www
        init: true
        environment:
          DB_GREETING: ${{GREETING:?set GREETING in .env}}
        healthcheck:
          test: ["CMD-SHELL", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc 127.0.0.1 5432 | grep -q db-says"]
          interval: 300ms
          retries: 20
        volumes: [data:/data]
      migrate:
        image: {BUSYBOX}
        command: ["sh", "-c", "echo migrated > /data/schema && echo migration-done"]
        volumes: [data:/data]
        depends_on:
          db: {{condition: service_healthy}}
      web:
        image: {BUSYBOX}
        init: true
        command:
          - sh
          - -c
          - >-
            mkdir -p /www &&
            printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc db 5432 | tail -n 1 > /www/index.html &&
            cat /data/schema >> /www/index.html &&
            test -f /run/secrets/api_key && echo web-up &&
            httpd -f -p 8000 -h /www
        ports: ["127.0.0.1:{port}:8000"]
        secrets: [api_key]
        volumes: [data:/data:ro]
        environment:
          LOG_LEVEL: info
        depends_on:
          db: {{condition: service_healthy}}
          migrate: {{condition: service_completed_successfully}}
    secrets:
      api_key:
        file: ./api_key.txt
    volumes:
      data: {{}}
    """


def http(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        return r.read().decode()


def containers(project: str) -> list[docker.models.containers.Container]:
    client = docker.from_env()
    return client.containers.list(all=True, filters={"label": f"escadre.app={project}"})


def test_full_lifecycle(ws: Workspace) -> None:
    port = free_port()
    ws.write("compose.yaml", compose(port))
    ws.write("compose.override.yaml", "services:\n  web:\n    environment:\n      LOG_LEVEL: debug\n")
    ws.write(".env", "GREETING=hello\n")
    ws.write("api_key.txt", "k-123-secret\n")

    cfg = ws.run("config", "--format", "json")
    model = json.loads(cfg.stdout)
    assert model["services"]["web"]["environment"]["LOG_LEVEL"] == "debug"  # override picked up
    assert model["services"]["db"]["environment"]["DB_GREETING"] == "hello"  # .env interpolation

    up = ws.run("up")
    assert "3 created" in up.stdout
    # every tier talked to the others over the project network, in dependency order
    assert http(port).split() == ["db-says-hello", "migrated"]

    # the secret is a file in the container, never in its environment or labels
    web = next(c for c in containers(ws.name) if c.labels["escadre.service"] == "web")
    assert web.exec_run("cat /run/secrets/api_key").output.decode().strip() == "k-123-secret"
    inspected = json.dumps(web.attrs["Config"]["Env"]) + json.dumps(web.attrs["Config"]["Labels"])
    assert "k-123-secret" not in inspected

    ps = json.loads(ws.run("ps", "--json").stdout)
    states = {r["service"]: [i["state"] for i in r["instances"]] for r in ps["revisions"]}
    assert states == {"db": ["running"], "migrate": ["exited"], "web": ["running"]}

    # nothing changed: nothing is touched, and it is quick
    ids = {c.id for c in containers(ws.name)}
    started = time.monotonic()
    again = ws.run("up")
    assert "3 unchanged" in again.stdout
    assert time.monotonic() - started < 5
    assert {c.id for c in containers(ws.name)} == ids

    # change one service: the plan says what and why, up redeploys only it
    ws.write("compose.override.yaml", "services:\n  web:\n    environment:\n      LOG_LEVEL: warn\n")
    plan = json.loads(ws.run("plan", "--json").stdout)
    actions = {c["service"]: (c["action"], c["changed_keys"]) for c in plan["changes"]}
    assert actions["web"] == ("update", ["environment.LOG_LEVEL"])
    assert actions["db"][0] == actions["migrate"][0] == "unchanged"
    ws.run("up")
    after = {c.labels["escadre.service"]: c.id for c in containers(ws.name)}
    before = {c.labels["escadre.service"]: c.id for c in containers(ws.name) if c.id in ids}
    assert after["db"] == before["db"] and after["web"] != before.get("web")
    assert http(port).split()[0] == "db-says-hello"

    logs = ws.run("logs", "web").stdout
    assert "web-up" in logs
    history = json.loads(ws.run("history", "--json").stdout)
    web_deploys = [d for d in history if d["service"] == "web"]
    assert [d["status"] for d in web_deploys] == ["succeeded", "succeeded"]
    assert web_deploys[0]["from_revision"] == web_deploys[1]["revision"]

    # down removes exactly what Escadre created; the volume stays unless -v
    client = docker.from_env()
    foreign = client.containers.create(BUSYBOX, ["true"], name=f"{ws.name}-web-foreign", labels={"keep": "1"})
    try:
        ws.run("down")
        assert containers(ws.name) == []
        assert client.volumes.list(filters={"label": f"escadre.app={ws.name}"})
        assert client.networks.list(filters={"label": f"escadre.app={ws.name}"}) == []
        client.containers.get(foreign.id)  # still there
        ws.run("down", "-v")
        assert client.volumes.list(filters={"label": f"escadre.app={ws.name}"}) == []
    finally:
        foreign.remove(force=True)


def test_replicas_scale_in_place(ws: Workspace) -> None:
    ws.write(
        "compose.yaml",
        f"""
    services:
      worker:
        image: {BUSYBOX}
        command: ["sh", "-c", "{LOOP}"]
        deploy:
          replicas: ${{N:-3}}
    """,
    )
    ws.run("up")
    first = containers(ws.name)
    assert len(first) == 3
    revision = first[0].labels["escadre.revision"]
    ws.run("up", env={"N": "1"})
    remaining = containers(ws.name)
    assert len(remaining) == 1
    assert remaining[0].labels["escadre.revision"] == revision
    assert remaining[0].id in {c.id for c in first}


def test_failed_dependency_skips_dependents_and_next_up_recovers(ws: Workspace) -> None:
    ws.write(
        "compose.yaml",
        f"""
    services:
      migrate:
        image: {BUSYBOX}
        command: ["sh", "-c", "echo boom >&2; exit ${{CODE:-3}}"]
      app:
        image: {BUSYBOX}
        command: ["sh", "-c", "{LOOP}"]
        depends_on:
          migrate: {{condition: service_completed_successfully}}
      other:
        image: {BUSYBOX}
        command: ["sh", "-c", "{LOOP}"]
    """,
    )
    failed = ws.run("up", check=False)
    assert failed.returncode == 1
    assert "migrate: failed" in failed.stderr and "exited with code 3" in failed.stderr
    assert "app: skipped" in failed.stderr
    assert "Traceback" not in failed.stderr
    services = {c.labels["escadre.service"] for c in containers(ws.name)}
    assert services == {"migrate", "other"}
    fixed = ws.run("up", env={"CODE": "0"})
    assert fixed.returncode == 0
    assert {c.labels["escadre.service"] for c in containers(ws.name)} == {"migrate", "app", "other"}


def test_interrupted_up_is_finished_by_the_next_one(ws: Workspace) -> None:
    ws.write(
        "compose.yaml",
        f"""
    services:
      slow:
        image: {BUSYBOX}
        command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ok; while :; do sleep 0.2; done"]
        healthcheck:
          test: ["CMD", "test", "-f", "/tmp/ok"]
          interval: 300ms
          retries: 30
      fast:
        image: {BUSYBOX}
        command: ["sh", "-c", "{LOOP}"]
        depends_on:
          slow: {{condition: service_healthy}}
    """,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "escadre.cli.main", "up"],
        cwd=ws.dir,
        env=ws.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not containers(ws.name):
        time.sleep(0.1)
    os.kill(proc.pid, 9)
    proc.wait()
    assert {c.labels["escadre.service"] for c in containers(ws.name)} == {"slow"}
    ws.run("up")
    assert {c.labels["escadre.service"] for c in containers(ws.name)} == {"slow", "fast"}
    history = json.loads(ws.run("history", "--json").stdout)
    assert {d["service"]: d["status"] for d in history if d["service"] == "fast"} == {"fast": "succeeded"}
    slow = [d["status"] for d in history if d["service"] == "slow"]
    assert slow == ["succeeded"] or slow[0] == "succeeded"
