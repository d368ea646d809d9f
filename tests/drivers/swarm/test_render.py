"""``escadre render swarm``: a stack file ``docker stack deploy`` accepts, every conversion said.

The golden file pins the translation; ``docker stack config`` (the docker CLI's own 3.x schema validation,
no engine needed) and a real ``docker stack deploy -c`` on the host swarm prove acceptance.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from escadre.core.errors import SpecError
from escadre.drivers.swarm.render import duration, render, stack_file
from escadre.spec import load_project
from tests.support import unique

DATA = Path(__file__).parent / "data" / "render"
GOLDEN = DATA / "stack.golden.yml"
DOCKER = shutil.which("docker")


def rendered(**options: str) -> str:
    project = load_project([str(DATA / "compose.yaml")], environ={})
    return render(project, options).replace(str(DATA), "<dir>")


def test_the_stack_file_matches_the_golden_file() -> None:
    text = rendered()
    if os.environ.get("ESCADRE_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "regenerate with ESCADRE_UPDATE_GOLDEN=1"


def test_what_stack_deploy_refuses_is_converted_and_said() -> None:
    text = rendered()
    doc = yaml.safe_load(text)
    assert doc["version"] == "3.9" and "name" not in doc
    web, db = doc["services"]["web"], doc["services"]["db"]
    assert web["depends_on"] == ["db"]  # long form refused by stack deploy: a list
    assert "profiles" not in web and "x-escadre" not in web and "build" not in web
    assert web["ports"] == [{"target": 8000, "protocol": "tcp", "published": 18090, "mode": "ingress"}]
    assert web["deploy"]["resources"]["limits"] == {"memory": "64M", "cpus": "0.5"}  # mem_limit, cpus moved
    assert db["deploy"]["restart_policy"] == {"condition": "on-failure", "max_attempts": 3}  # from restart:
    assert doc["networks"]["back"]["driver"] == "overlay"
    # secrets: a versioned name and a file reference, never the value
    assert doc["secrets"]["token"]["name"].startswith("shop_token_")
    assert doc["secrets"]["token"]["file"] == "<dir>/token.txt"
    assert "not-a-real-token" not in text
    assert doc["configs"]["settings"] == {"external": True, "name": doc["configs"]["settings"]["name"]}
    header = [line for line in text.splitlines() if line.startswith("#")]
    for said in ("depends_on: conditions dropped", "host_ip 127.0.0.1 dropped", "build: dropped", "x-escadre"):
        assert any(said in line for line in header), said
    assert any("docker config create shop_settings_" in line for line in header)


def test_without_a_routing_mesh_services_use_dnsrr_and_host_ports() -> None:
    doc = yaml.safe_load(rendered(routing_mesh="off"))
    web = doc["services"]["web"]
    assert web["deploy"]["endpoint_mode"] == "dnsrr" and web["ports"][0]["mode"] == "host"
    assert doc["services"]["db"]["deploy"]["endpoint_mode"] == "dnsrr"


def test_secret_names_follow_their_content(tmp_path: Path) -> None:
    shutil.copytree(DATA, tmp_path / "p")
    before = stack_file(load_project([str(tmp_path / "p" / "compose.yaml")], environ={}))[0]
    (tmp_path / "p" / "token.txt").write_text("rotated")
    after = stack_file(load_project([str(tmp_path / "p" / "compose.yaml")], environ={}))[0]
    assert before["secrets"]["token"]["name"] != after["secrets"]["token"]["name"]
    (tmp_path / "p" / "token.txt").unlink()
    project = load_project([str(tmp_path / "p" / "compose.yaml")], environ={}, check_files=False)
    with pytest.raises(SpecError, match=r"token\.txt\) does not exist"):
        stack_file(project)


def test_durations_are_go_durations() -> None:
    assert [duration(v) for v in (5.0, 0.5, 90, 1.25)] == ["5s", "500ms", "90s", "1250ms"]


@pytest.mark.skipif(DOCKER is None, reason="the docker CLI is not installed")
@pytest.mark.parametrize("mesh", ["on", "off"])
def test_the_docker_cli_validates_the_stack_file(tmp_path: Path, mesh: str) -> None:
    path = tmp_path / "stack.yml"
    path.write_text(rendered(routing_mesh=mesh).replace("<dir>", str(DATA)))
    proc = subprocess.run(["docker", "stack", "config", "-c", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.docker
@pytest.mark.slow
def test_docker_stack_deploy_runs_the_rendered_stack(tmp_path: Path, swarm_host: str) -> None:
    name = unique("stk")
    path = tmp_path / "stack.yml"
    path.write_text(rendered().replace("<dir>", str(DATA)))
    config = yaml.safe_load(path.read_text())["configs"]["settings"]["name"]
    subprocess.run(["docker", "config", "create", config, "-"], input=b"currency=EUR", capture_output=True, check=False)
    try:
        proc = subprocess.run(
            ["docker", "stack", "deploy", "-c", str(path), name], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            replicas = subprocess.run(
                ["docker", "stack", "services", name, "--format", "{{.Name}} {{.Replicas}}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split("\n")
            running = sorted(" ".join(r.split()[:2]) for r in replicas if r)
            if running == [f"{name}_db 1/1", f"{name}_web 2/2"]:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the stack never ran fully: {replicas}")
    finally:
        subprocess.run(["docker", "stack", "rm", name], capture_output=True, check=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            left = subprocess.run(
                ["docker", "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={name}"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if not left:
                break
            time.sleep(0.5)
        subprocess.run(["docker", "config", "rm", config], capture_output=True, check=False)
        while time.monotonic() < deadline:  # the volume is free once the tasks' containers are gone
            gone = subprocess.run(["docker", "volume", "rm", f"{name}_data"], capture_output=True, check=False)
            if gone.returncode == 0 or b"no such volume" in gone.stderr.lower():
                break
            time.sleep(0.5)
