from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from jsonschema import Draft7Validator

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec import schema
from escadre.spec.fastschema import compile_schema
from escadre.spec.yamlsource import parse_yaml

from .conftest import Project, where


def error_of(text: str) -> SpecError:
    parsed = parse_yaml(text, "c.yaml")
    with pytest.raises(SpecError) as info:
        schema.validate(parsed.data, parsed.loc, has_markers=parsed.has_markers)
    return info.value


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        (
            "services:\n  web:\n    imgae: nginx\n",
            "services.web: unknown key 'imgae' (did you mean 'image'?)",
            3,
            5,
        ),
        ("servics: {}\n", "top level: unknown key 'servics' (did you mean 'services'?)", 1, 1),
        (
            "services:\n  web:\n    image: x\n    ports:\n      - [80]\n",
            "services.web.ports[0]: expected a number, a string or a mapping, got a list",
            5,
            9,
        ),
        (
            "services:\n  web:\n    image: x\n    ports:\n      - target: 80\n        bogus: 1\n",
            "services.web.ports[0]: unknown key 'bogus'",
            6,
            9,
        ),
        (
            "services:\n  web:\n    image: 5\n",
            "services.web.image: expected a string, got a number",
            3,
            5,
        ),
        (
            "services:\n  web:\n    environment:\n      A: [1]\n",
            "services.web.environment.A: expected a string, a number, a boolean (true or false) or null, got a list",
            4,
            7,
        ),
        (
            "services:\n  a:\n    depends_on:\n      b: {condition: started}\n",
            "services.a.depends_on.b.condition: must be one of service_started, service_healthy, "
            "service_completed_successfully, not 'started'",
            4,
            11,
        ),
        (
            "services:\n  a:\n    extends: {file: x.yaml}\n",
            "services.a.extends: missing required key 'service'",
            3,
            5,
        ),
        (
            "services:\n  my web: {}\n",
            "services: invalid name 'my web': use only letters, digits, '.', '_' and '-'",
            2,
            3,
        ),
        (
            "services:\n  a:\n    cap_add: [NET_ADMIN, NET_ADMIN]\n",
            "services.a.cap_add: contains duplicate entries: 'NET_ADMIN'",
            3,
            5,
        ),
        ("services: []\n", "services: expected a mapping, got a list", 1, 1),
        (
            "services:\n  a:\n    deploy:\n      resources:\n        limits:\n          memory: 512\n",
            "services.a.deploy.resources.limits.memory: expected a string, got a number",
            6,
            11,
        ),
    ],
)
def test_messages_and_positions(text: str, message: str, line: int, column: int) -> None:
    error = error_of(text)
    assert error.message == message
    assert error.location == SourceLocation("c.yaml", line, column)


def test_unknown_key_without_close_match_lists_the_allowed_keys() -> None:
    error = error_of("services:\n  web:\n    image: x\n    healthcheck: {zzz: 1}\n")
    assert error.message == "services.web.healthcheck: unknown key 'zzz'"
    assert error.hint is not None
    assert error.hint.startswith("allowed keys: disable, interval, retries, start_interval, start_period, test")


def test_markers_are_invisible_to_the_schema() -> None:
    parsed = parse_yaml("services:\n  web:\n    image: !reset null\n    ports: !override ['80']\n", "c.yaml")
    schema.validate(parsed.data, parsed.loc, has_markers=True)


def test_version_is_accepted_with_a_warning(proj: Project) -> None:
    result = proj.load("version: '3.8'\nservices:\n  web:\n    image: x\n")
    assert result.warnings == [f"{proj.root / 'compose.yaml'}: the attribute 'version' is obsolete and ignored"]


def test_each_file_is_validated_before_merging(proj: Project) -> None:
    proj.write("compose.yaml", "services:\n  web:\n    image: x\n")
    proj.write("override.yaml", "services:\n  web:\n    restrat: always\n")
    error = proj.error(files=("compose.yaml", "override.yaml"))
    assert where(error) == ("override.yaml", 3, 5)
    assert error.message == "services.web: unknown key 'restrat' (did you mean 'restart'?)"


# ------------------------------------------------------------------ the fast path never accepts a bad file

RICH: dict[str, Any] = {
    "name": "p",
    "services": {
        "web": {
            "image": "x",
            "build": {"context": ".", "args": ["A=1"]},
            "ports": ["80", 81, {"target": 82, "published": "8082"}],
            "environment": {"A": 1, "B": None, "C": True},
            "volumes": ["./a:/a", {"type": "bind", "source": ".", "target": "/b", "bind": {"selinux": "z"}}],
            "depends_on": {"db": {"condition": "service_healthy"}},
            "deploy": {"replicas": 2, "resources": {"limits": {"cpus": "0.5", "memory": "1g"}}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s"},
            "networks": {"front": {"aliases": ["a"]}},
            "cap_add": ["A", "B"],
            "ulimits": {"nofile": {"soft": 1, "hard": 2}},
            "x-escadre": {"anything": [1]},
        },
        "db": {"image": "postgres", "extends": "web", "oom_score_adj": 5},
    },
    "networks": {"front": None},
    "volumes": {"v": {"external": True}},
    "secrets": {"s": {"file": "./s"}},
}
WRONG: list[Any] = [None, 1, -2000, 1.5, "x", "", [], {}, [1, 1], {"a": 1}, True, ["a", "a"], {"x-a": 1}]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*path, index))
    return out


def test_fast_check_agrees_with_jsonschema_on_mutations() -> None:
    fast = compile_schema(schema.compose_schema())
    slow = Draft7Validator(schema.compose_schema())
    assert fast(RICH)
    assert slow.is_valid(RICH)
    rng = random.Random(7)
    checked = 0
    for path in _paths(RICH)[1:]:
        for wrong in rng.sample(WRONG, 6):
            doc = copy.deepcopy(RICH)
            target = doc
            for part in path[:-1]:
                target = target[part]
            target[path[-1]] = wrong
            if fast(doc):
                assert slow.is_valid(doc), (path, wrong)
            checked += 1
        doc = copy.deepcopy(RICH)
        target = doc
        for part in path[:-1]:
            target = target[part]
        if isinstance(target, dict):
            target["unknown_key"] = 1
            assert not fast(doc) or slow.is_valid(doc), path
    assert checked > 300
