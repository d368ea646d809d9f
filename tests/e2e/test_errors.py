"""Bad input and broken environments end in one clear message and the right exit code."""

from __future__ import annotations

import socket

import docker
import pytest

from tests.e2e.conftest import Workspace, free_port
from tests.support import BUSYBOX

pytestmark = pytest.mark.docker

LOOP = "trap 'exit 0' TERM; while :; do sleep 0.2; done"


def assert_clean_error(result, code: int, *needles: str) -> None:  # type: ignore[no-untyped-def]
    assert result.returncode == code, result
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_port_already_in_use_leaves_nothing_behind(ws: Workspace) -> None:
    port = free_port()
    ws.write(
        "compose.yaml",
        f"""
    services:
      web:
        image: {BUSYBOX}
        command: ["sh", "-c", "{LOOP}"]
        ports: ["127.0.0.1:{port}:80"]
    """,
    )
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        result = ws.run("up", check=False)
    assert_clean_error(result, 1, f"port {port}", "already in use")
    assert docker.from_env().containers.list(all=True, filters={"label": f"escadre.app={ws.name}"}) == []
    ws.run("up")  # the port is free again: the next up resolves it
    assert len(docker.from_env().containers.list(filters={"label": f"escadre.app={ws.name}"})) == 1


def test_unreachable_engine(ws: Workspace) -> None:
    ws.write("compose.yaml", f"services:\n  web:\n    image: {BUSYBOX}\n")
    result = ws.run("up", check=False, env={"DOCKER_HOST": "unix:///tmp/escadre-no-such.sock"})
    assert_clean_error(result, 1, "cannot reach the Docker engine at unix:///tmp/escadre-no-such.sock", "hint:")


def test_unknown_target(ws: Workspace) -> None:
    ws.write("compose.yaml", f"services:\n  web:\n    image: {BUSYBOX}\n")
    assert_clean_error(ws.run("up", "--target", "nope", check=False), 2, "unknown target 'nope'")


def test_missing_image_without_registry(ws: Workspace) -> None:
    ws.write("compose.yaml", "services:\n  web:\n    image: escadre-test/does-not-exist:1\n")
    assert_clean_error(ws.run("up", check=False), 1, "escadre-test/does-not-exist:1", "pulling it failed")


@pytest.mark.parametrize(
    ("files", "needles"),
    [
        ({"compose.yaml": "services:\n  web:\n    imgae: x\n"}, ["compose.yaml:3:5", "imgae", "did you mean 'image'"]),
        ({"compose.yaml": "services:\n  web:\n    image: x\n    ports: {a: 1}\n"}, ["compose.yaml:4"]),
        (
            {"compose.yaml": "services:\n  web:\n    image: ${TAG:?TAG must be set}\n"},
            ["compose.yaml:3", "TAG must be set"],
        ),
        (
            {
                "compose.yaml": "services:\n  a:\n    image: x\n    depends_on: [b]\n"
                "  b:\n    image: x\n    depends_on: [a]\n"
            },
            ["cycle"],
        ),
        (
            {
                "compose.yaml": "services:\n  a:\n    image: x\n    secrets: [pw]\n"
                "secrets:\n  pw:\n    file: ./missing.txt\n"
            },
            ["missing.txt"],
        ),
        ({"compose.yaml": "services:\n  a:\n    build: ./nowhere\n"}, ["nowhere"]),
        ({"compose.yaml": "services:\n  a:\n    image: x\n   bad-indent: 1\n"}, ["compose.yaml:4"]),
    ],
)
def test_spec_errors(ws: Workspace, files: dict[str, str], needles: list[str]) -> None:
    for name, text in files.items():
        ws.write(name, text)
    for command in ("config", "up", "plan"):
        assert_clean_error(ws.run(command, check=False), 2, *needles)


def test_no_compose_file(ws: Workspace) -> None:
    assert_clean_error(ws.run("up", check=False), 2, "compose.yaml")


def test_target_commands(ws: Workspace) -> None:
    port = free_port()
    bad = ws.run("target", "add", "far", "--kind", "docker", "--host", f"tcp://127.0.0.1:{port}", check=False)
    assert_clean_error(bad, 1, "cannot reach the Docker engine")
    ws.run("target", "add", "far", "--kind", "docker", "--host", f"tcp://127.0.0.1:{port}", "--no-check")
    ws.run("target", "add", "here", "--kind", "docker", "--host", "unix:///var/run/docker.sock")
    listed = ws.run("target", "list").stdout
    assert "far" in listed and "here" in listed and "local" in listed
    assert_clean_error(ws.run("target", "add", "here", "--kind", "docker", check=False), 2, "already exists")
    assert_clean_error(ws.run("target", "add", "x", "--kind", "nomad", check=False), 2, "unknown target kind")
    ws.write("compose.yaml", f'services:\n  web:\n    image: {BUSYBOX}\n    command: [sh, -c, "{LOOP}"]\n')
    assert "1 created" in ws.run("up", "--target", "here").stdout
    assert_clean_error(ws.run("up", "--target", "far", check=False), 1, f"tcp://127.0.0.1:{port}")
    ws.run("down", "--target", "here")
    ws.run("target", "remove", "far")
    assert_clean_error(ws.run("target", "remove", "far", check=False), 2, "no target named 'far'")
