"""Wrong values anywhere must end as a located SpecError — never a KeyError/TypeError traceback."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
import yaml

from escadre.core.errors import SpecError

from .conftest import Project

BASE: dict[str, Any] = {
    "services": {
        "web": {
            "build": {"context": "./app", "args": {"A": "1"}},
            "image": "web:1",
            "command": "run it",
            "ports": ["8080:80", {"target": 443, "published": 8443}],
            "environment": {"A": "1"},
            "env_file": ["a.env"],
            "volumes": ["./d:/d", "data:/data", {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "10m"}}],
            "networks": {"front": {"aliases": ["w"]}},
            "depends_on": {"db": {"condition": "service_healthy"}},
            "secrets": [{"source": "s", "target": "s2", "mode": 0o400}],
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "deploy": {
                "replicas": 2,
                "resources": {"limits": {"cpus": "0.5", "memory": "64M"}},
                "update_config": {"delay": "5s"},
                "restart_policy": {"condition": "on-failure"},
            },
            "extra_hosts": ["a:1.2.3.4"],
            "labels": ["a=b"],
            "ulimits": {"nofile": {"soft": 1, "hard": 2}},
            "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
            "x-escadre": {"rollout": {"strategy": "canary", "steps": [{"set_weight": 10}, {"pause": "5s"}]}},
        },
        "db": {"image": "postgres", "healthcheck": {"test": "pg_isready"}, "extends": {"service": "base"}},
        "base": {"image": "b"},
    },
    "volumes": {"data": {}},
    "networks": {"front": {"external": True}},
    "secrets": {"s": {"file": "./s.txt"}},
    "x-escadre": {"analysis_templates": {}},
}
WRONG: list[Any] = [None, 1, -1, 1.5, "x", "", [], {}, [1], {"a": 1}, True, "${", "$", ["a=b"], "/abs", "a:b:c:d"]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


@pytest.fixture
def fuzz_project(proj: Project) -> Project:
    proj.write("app/Dockerfile", "FROM x\n")
    proj.write("s.txt", "s\n")
    proj.write("a.env", "A=1\n")
    return proj


def test_the_base_document_loads(fuzz_project: Project) -> None:
    project = fuzz_project.load(yaml.safe_dump(BASE, sort_keys=False)).project
    assert sorted(project.services) == ["base", "db", "web"]


def test_wrong_values_everywhere_give_located_spec_errors(fuzz_project: Project) -> None:
    rng = random.Random(1)
    outcomes = {"ok": 0, "error": 0}
    unlocated: list[str] = []
    for path in _paths(BASE)[1:]:
        for wrong in rng.sample(WRONG, 3):
            doc = copy.deepcopy(BASE)
            target = doc
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = wrong
            try:
                fuzz_project.load(yaml.safe_dump(doc, sort_keys=False), environ={"HOME": "/h"})
            except SpecError as exc:
                if exc.location is None or exc.location.line <= 0:
                    unlocated.append(f"{path} = {wrong!r}: {exc}")
                outcomes["error"] += 1
            else:
                outcomes["ok"] += 1
    assert unlocated == []
    assert outcomes["error"] > 150
    assert outcomes["ok"] > 20


@pytest.mark.parametrize(
    "override",
    [
        {"services": {"web": {"build": "./app"}}},
        {"services": {"web": {"environment": ["B=2", "A"]}}},
        {"services": {"web": {"networks": ["front"]}}},
        {"services": {"web": {"depends_on": ["db"]}}},
        {"services": {"web": {"extra_hosts": {"b": "1.1.1.1"}}}},
        {"services": {"web": {"labels": {"x": "y"}}}},
        {"services": {"web": {"ulimits": {"nofile": 5}}}},
        {"services": {"web": {"logging": {"driver": "syslog"}}}},
        {"services": {"web": {"deploy": None}}},
        {"services": {"web": {"command": None, "healthcheck": {"disable": True}}}},
        {"services": {"web": {"ports": [{"target": 80}], "volumes": ["./x:/d"], "secrets": ["s"]}}},
        {"networks": {"front": None}, "volumes": {"data": None}},
    ],
)
def test_merging_different_shapes_never_crashes(fuzz_project: Project, override: dict[str, Any]) -> None:
    fuzz_project.write("compose.yaml", yaml.safe_dump(BASE, sort_keys=False))
    fuzz_project.write("over.yaml", yaml.safe_dump(override, sort_keys=False))
    try:
        fuzz_project.load(files=("compose.yaml", "over.yaml"))
    except SpecError as exc:
        location = exc.location
    else:
        return
    assert location is not None
    assert location.line > 0
