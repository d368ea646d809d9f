"""Cross-check merge, extends and normalization against a real ``docker-compose`` (Debian's 1.29).

1.29 predates top-level ``name:`` and prints its own shapes (short volume strings, integer ports), so the
comparison is on meaning: the same environment, the same port pairs, the same mounts, and so on.
Skipped when ``docker-compose`` is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Project
from .test_merge import BASE, OVERRIDE

DOCKER_COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(DOCKER_COMPOSE is None, reason="docker-compose is not installed")


def reference_config(root: Path, *files: str) -> dict[str, Any]:
    assert DOCKER_COMPOSE is not None
    args = [DOCKER_COMPOSE, "--project-name", "test"]
    for name in files:
        args += ["-f", str(root / name)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root)}
    done = subprocess.run([*args, "config"], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def _mounts(volumes: list[Any]) -> dict[str, str]:
    out = {}
    for volume in volumes:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source", ""), volume["target"]
        out[target] = source
    return out


def _ports(ports: list[dict[str, Any]]) -> set[tuple[int | None, int]]:
    return {(int(p["published"]) if p.get("published") else None, int(p["target"])) for p in ports}


def _ulimits(ulimits: dict[str, Any]) -> dict[str, dict[str, int]]:
    return {k: v if isinstance(v, dict) else {"soft": v, "hard": v} for k, v in ulimits.items()}


def test_merge_of_two_files_agrees(proj: Project) -> None:
    proj.write("compose.yaml", BASE)
    proj.write("override.yaml", OVERRIDE)
    for name in ("s1", "s2", "c1", "app/Dockerfile"):
        proj.write(name, "x")
    theirs = reference_config(proj.root, "compose.yaml", "override.yaml")["services"]["web"]
    ours = proj.load(files=("compose.yaml", "override.yaml")).project.spec["services"]["web"]
    assert ours["environment"] == theirs["environment"]
    assert ours["labels"] == theirs["labels"]
    assert _ports(ours["ports"]) == _ports(theirs["ports"])
    assert _mounts(ours["volumes"]) == _mounts(theirs["volumes"])
    assert ours["command"] == theirs["command"]
    assert ours["healthcheck"]["test"] == theirs["healthcheck"]["test"]
    # compose v2 (and Escadre) drop repeated dns entries; 1.29 kept them
    assert ours["dns"] == list(dict.fromkeys(theirs["dns"]))
    for key in ("cap_add", "expose", "extra_hosts", "sysctls", "logging"):
        assert ours[key] == theirs[key], key
    assert _ulimits(ours["ulimits"]) == _ulimits(theirs["ulimits"])
    assert set(ours["networks"]) == set(theirs["networks"])
    assert set(ours["depends_on"]) == set(theirs["depends_on"])
    assert {k: v["condition"] for k, v in ours["depends_on"].items()} == {
        k: v["condition"] for k, v in theirs["depends_on"].items()
    }


def test_extends_from_another_directory_agrees(proj: Project) -> None:
    proj.write(
        "common/base.yaml",
        """
        services:
          app:
            image: app:1
            build: ./src
            environment: {ROLE: base, LOG: info}
            volumes: ["./conf:/conf:ro"]
            ports: ["80"]
        """,
    )
    proj.write("common/src/Dockerfile", "FROM x\n")
    proj.write(
        "compose.yaml",
        """
        services:
          web:
            extends: {file: common/base.yaml, service: app}
            command: web
            environment: {ROLE: web}
          worker:
            extends: web
            command: worker
        """,
    )
    theirs = reference_config(proj.root, "compose.yaml")["services"]
    ours = proj.load().project.spec["services"]
    for name in ("web", "worker"):
        assert ours[name]["environment"] == theirs[name]["environment"]
        assert ours[name]["build"]["context"] == theirs[name]["build"]["context"]
        assert _mounts(ours[name]["volumes"]) == _mounts(theirs[name]["volumes"])
        assert ours[name]["command"] == [theirs[name]["command"]]
        assert _ports(ours[name]["ports"]) == _ports(theirs[name]["ports"])


def test_interpolation_and_dotenv_agree(proj: Project) -> None:
    proj.write(".env", 'TAG=1.2\nQUOTED="a b"\nexport EXPORTED=yes\n')
    proj.write(
        "compose.yaml",
        """
        services:
          web:
            image: "nginx:${TAG}"
            environment:
              Q: ${QUOTED}
              E: $EXPORTED
              D: ${UNSET:-fallback}
        """,
    )
    theirs = reference_config(proj.root, "compose.yaml")["services"]["web"]
    ours = proj.load().project.spec["services"]["web"]
    assert ours["image"] == theirs["image"]
    assert ours["environment"] == theirs["environment"]
