"""The Swarm driver on a real swarm (the host engine): secrets, publishing without IPVS, bad input."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from escadre.core.errors import ConflictError, SpecError, UsageError
from escadre.core.progress import CollectingProgress
from escadre.drivers.base import LABEL_APP
from escadre.drivers.swarm import SwarmDriver
from tests.drivers.swarm.helpers import compose, deploy, engine, ready, revision, until
from tests.support import BUSYBOX, unique

pytestmark = pytest.mark.docker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def objects(kind: str, app: str) -> dict[str, dict[str, str]]:
    with engine() as api:
        found = (api.secrets if kind == "secret" else api.configs)(filters={"label": [f"{LABEL_APP}={app}"]})
    return {o["Spec"]["Name"]: o["Spec"].get("Labels") or {} for o in found}


def output(swarm: SwarmDriver, app: str, service: str) -> str:
    return "\n".join(line.text for line in swarm.logs(app, [service]))


SECRETS = f"""
services:
  job:
    image: {BUSYBOX}
    command: ["sh", "-c", "cat /run/secrets/token; echo; cat /etc/app.conf; echo; while :; do sleep 1; done"]
    init: true
    secrets: [token]
    configs: [{{source: conf, target: /etc/app.conf}}]
secrets:
  token: {{file: ./token.txt}}
configs:
  conf: {{content: "setting=1"}}
"""


def test_secrets_are_versioned_by_content_and_old_versions_are_removed(
    swarm: SwarmDriver, app: str, tmp_path: Path
) -> None:
    progress = CollectingProgress()
    v1 = compose(tmp_path, app, SECRETS, files={"token.txt": "first-value"})
    swarm.ensure_shared(v1, progress)
    rev1 = revision(swarm, v1, "job")
    swarm.apply_revision(v1, rev1, 1, progress)
    until(ready(swarm, app, "job", rev1.id, 1), what="v1 running")
    (first,) = objects("secret", app)
    assert first.startswith(f"{app}_token_")
    until(lambda: "first-value" in output(swarm, app, "job"), what="the secret in the task")
    assert "setting=1" in output(swarm, app, "job")

    (tmp_path / "token.txt").write_text("second-value")
    v2 = compose(tmp_path, app, SECRETS)
    swarm.ensure_shared(v2, progress)
    rev2 = revision(swarm, v2, "job")
    assert rev2.id != rev1.id  # a new secret value is a new revision
    swarm.apply_revision(v2, rev2, 1, progress)
    assert len(objects("secret", app)) == 2  # both revisions run, each with its own value
    until(ready(swarm, app, "job", rev2.id, 1), what="v2 running")
    swarm.remove_revision(app, "job", rev1.id, progress)
    (second,) = objects("secret", app)
    assert second != first  # the old version went with the last service using it
    until(lambda: "second-value" in output(swarm, app, "job"), what="the new value in the task")
    # values are never in labels nor in progress events
    assert all("value" not in str(labels) for labels in objects("secret", app).values())
    assert not [e for e in progress.events if "first-value" in repr(e) or "second-value" in repr(e)]
    assert {r.kind for r in swarm.observe(app).resources} >= {"secret", "config", "network"}


def test_a_missing_secret_file_fails_before_anything_is_created(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    project = compose(tmp_path, app, SECRETS, files={"token.txt": "x"})
    (tmp_path / "token.txt").unlink()  # gone between loading and deploying
    with pytest.raises(SpecError, match=r"token\.txt\) does not exist"):
        swarm.ensure_shared(project, CollectingProgress())
    assert swarm.observe(app).resources == ()


def test_a_missing_external_secret_is_named_and_nothing_is_created(
    swarm: SwarmDriver, app: str, tmp_path: Path
) -> None:
    missing = unique("nope")
    project = compose(
        tmp_path,
        app,
        f"""
        services:
          job: {{image: {BUSYBOX}, secrets: [ext]}}
        secrets:
          ext: {{external: true, name: {missing}}}
        """,
    )
    with pytest.raises(UsageError, match=f"secret '{missing}' is declared external but does not exist") as err:
        swarm.ensure_shared(project, CollectingProgress())
    assert "docker secret create" in str(err.value)
    assert swarm.observe(app).resources == ()


def test_a_constraint_no_node_satisfies_fails_with_its_name_and_leaves_nothing(
    swarm: SwarmDriver, app: str, tmp_path: Path
) -> None:
    project = compose(
        tmp_path,
        app,
        f"""
        services:
          web:
            image: {BUSYBOX}
            command: [sleep, "1000"]
            init: true
            deploy: {{placement: {{constraints: ["node.labels.zone == nowhere"]}}}}
        """,
    )
    started = time.monotonic()
    with pytest.raises(UsageError, match=r"no node satisfies placement constraints node\.labels\.zone == nowhere"):
        deploy(swarm, project, "web")
    assert time.monotonic() - started < 10
    assert swarm.observe(app).revisions == ()


def test_a_port_taken_fails_clearly_and_leaves_nothing(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    port = free_port()
    holder = unique("holder")
    subprocess.run(
        ["docker", "run", "-d", "--name", holder, "-p", f"{port}:8000", BUSYBOX, "sleep", "300"],
        check=True,
        capture_output=True,
    )
    try:
        project = compose(
            tmp_path,
            app,
            f"""
            services:
              web: {{image: {BUSYBOX}, command: [sleep, "1000"], init: true, ports: ["{port}:8000"]}}
            """,
        )
        with pytest.raises(ConflictError, match=f"port {port} is already in use"):
            deploy(swarm, project, "web")
        assert swarm.observe(app).revisions == ()
    finally:
        subprocess.run(["docker", "rm", "-f", holder], capture_output=True, check=False)


WEB = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sh", "-c", "mkdir -p /www && echo hello-from-swarm > /www/index.html && exec httpd -f -p 8000 -h /www"]
    init: true
    ports: ["{{port}}:8000"]
  probe:
    image: {BUSYBOX}
    command: ["sh", "-c", "printf 'GET / HTTP/1.0\\\\r\\\\n\\\\r\\\\n' | nc web 8000 | grep -q hello-from-swarm"]
    deploy: {{restart_policy: {{condition: on-failure, delay: 1s}}}}
"""


def test_without_ipvs_published_ports_and_service_names_still_work(
    swarm: SwarmDriver, app: str, tmp_path: Path
) -> None:
    if swarm.mesh().ipvs:
        pytest.skip("this kernel has IPVS: the ingress mesh needs no fallback")
    port = free_port()
    project = compose(tmp_path, app, WEB.replace("{port}", str(port)))
    progress = CollectingProgress()
    swarm.ensure_shared(project, progress)
    web = revision(swarm, project, "web")
    swarm.apply_revision(project, web, 1, progress)
    notes = [e.detail for e in progress.find(status="warning")]
    assert any("dnsrr" in n for n in notes) and any(f"{port}:8000/tcp published in mode host" in n for n in notes)
    until(ready(swarm, app, "web", web.id, 1), what="web running")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
        assert r.read().decode().strip() == "hello-from-swarm"
    (inst,) = swarm.observe(app, "web").for_service("web")[0].instances
    assert inst.ports == (f"127.0.0.1:{port}->8000/tcp",) and inst.node
    # another service reaches it by name: DNS round robin on the overlay, no virtual IP needed
    probe = revision(swarm, project, "probe")
    swarm.apply_revision(project, probe, 1, progress)

    def completed() -> bool:
        status = swarm.observe(app, "probe").revision("probe", probe.id)
        return status is not None and all(i.completed for i in status.instances)

    until(completed, timeout=30, what="the probe reaching web by name")


def test_logs_follow_streams_new_lines(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    project = compose(
        tmp_path,
        app,
        f"""
        services:
          talk:
            image: {BUSYBOX}
            command: ["sh", "-c", "i=0; while :; do i=$$((i+1)); echo line-$$i; sleep 0.3; done"]
            init: true
        """,
    )
    deploy(swarm, project, "talk")
    seen: list[str] = []

    def read() -> None:
        for line in swarm.logs(app, ["talk"], follow=True, tail=0):
            seen.append(line.text)
            if len(seen) >= 3:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(30)
    assert len(seen) >= 3 and all(text.startswith("line-") for text in seen)
    (line,) = list(swarm.logs(app, ["talk"], tail=1))[:1]
    assert line.service == "talk" and line.instance.startswith(f"{app}_talk_") and line.instance.endswith(".1")


def test_down_with_volumes_removes_a_volume_its_tasks_were_using(swarm: SwarmDriver, app: str, tmp_path: Path) -> None:
    project = compose(
        tmp_path,
        app,
        f"""
        services:
          db: {{image: {BUSYBOX}, command: [sleep, "1000"], init: true, volumes: ["data:/data"]}}
        volumes:
          data: {{}}
        """,
    )
    rev = deploy(swarm, project, "db")
    until(ready(swarm, app, "db", rev.id, 1), what="db running")
    swarm.remove_app(app, CollectingProgress(), volumes=True)
    assert swarm.observe(app).resources == ()
