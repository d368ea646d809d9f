"""Every rendered object is valid for several Kubernetes versions, and the validator catches what is not.

Each fixture, golden file and example (``examples/shop`` with each of its override files) is validated
against the official schemas of 1.25 (the oldest supported), 1.29, 1.31, 1.33 and 1.37 (the newest), and
its Gateway API objects against the CRDs' schemas. The fast compiled path is checked against
``jsonschema`` (through ``kubernetes-validate``) so it can never let through what the slow path refuses.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from escadre.core.errors import SpecError
from escadre.drivers.kubernetes.validate import (
    _core_check,
    _schema_file,
    errors,
    schema_version,
    supported_versions,
    validate,
)
from tests.drivers.kubernetes.helpers import (
    EXAMPLES,
    GOLDEN,
    documents,
    fixture_names,
    load_example,
    load_fixture,
    rendered,
)

VERSIONS = ["1.25", "1.29", "1.31", "1.33", "1.37"]


SOURCES = [(name, lambda n=name: load_fixture(n)) for name in fixture_names()]
SOURCES += [("+".join(files), lambda f=files: load_example(f)) for files in EXAMPLES]


def all_rendered(version: str = "1.31") -> list[tuple[str, list[dict[str, Any]]]]:
    return [(name, rendered(load(), validate=False, k8s_version=version)) for name, load in SOURCES]


CORPUS = all_rendered()


def test_the_installed_schemas_cover_the_versions_we_promise() -> None:
    assert {(1, 25), (1, 29), (1, 31), (1, 33), (1, 37)} <= set(supported_versions())


@pytest.mark.parametrize("version", VERSIONS)
def test_every_fixture_and_example_renders_valid_objects_for_each_version(version: str) -> None:
    for source, objects in all_rendered(version):
        for obj in objects:
            assert errors(obj, version) == [], f"{source}: {obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.name)
def test_every_golden_file_is_valid_for_its_version_and_the_gateway_api(golden: Path) -> None:
    version = golden.read_text().split("for Kubernetes ", 1)[1].split(".\n", 1)[0]
    for obj in documents(golden.read_text()):
        assert errors(obj, version) == [], f"{golden.name}: {obj['kind']}/{obj['metadata']['name']}"


def test_the_corpus_covers_every_kind_we_render() -> None:
    kinds = {o["kind"] for _, objs in CORPUS for o in objs}
    assert kinds >= {
        "Namespace",
        "NetworkPolicy",
        "ConfigMap",
        "PersistentVolumeClaim",
        "Service",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
        "HTTPRoute",
    }


def reference_validator(kind: str, api_version: str) -> Any:
    """What ``kubernetes_validate.validate(obj, "1.31", strict=True)`` does, built once per kind (it
    re-reads the 1.3 MB definitions on every call)."""
    from importlib import resources

    from referencing import Registry, Resource

    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema/v1.31.0-local-strict")
    schema = json.loads(root.joinpath(_schema_file(api_version, kind)).read_text())
    definitions = json.loads(root.joinpath("_definitions.json").read_text())
    registry: Any = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def test_the_slow_path_agrees_with_the_fast_path_on_broken_objects() -> None:
    """Mutate rendered objects (wrong types, unknown fields, dropped required fields): whenever the
    official schemas refuse one, the compiled check refuses it too."""
    rng = random.Random(7)
    objects = [o for _, objs in CORPUS[:7] for o in objs if not o["apiVersion"].startswith("gateway")]
    validators: dict[tuple[str, str], Any] = {}
    checked = refused = 0
    for obj in objects:
        key = (obj["kind"], obj["apiVersion"])
        if key not in validators:
            validators[key] = reference_validator(*key)
        for _ in range(4):
            broken = copy.deepcopy(obj)
            _mutate(broken, rng)
            check = _core_check(schema_version("1.31"), broken["apiVersion"], broken["kind"])
            assert check is not None
            if not validators[key].is_valid(broken):
                refused += 1
                assert not check(broken), json.dumps(broken)[:400]
            checked += 1
    assert checked > 200 and refused > 50
    # the shortcut above is kubernetes-validate's own procedure: spot-check it
    sample = copy.deepcopy(objects[0])
    sample["metadata"]["bogus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sample, "1.31", strict=True)
    assert not validators[(sample["kind"], sample["apiVersion"])].is_valid(sample)


def _mutate(obj: Any, rng: random.Random) -> None:
    """Change one random place: a wrong type, an unknown field, or a field removed."""
    path: list[Any] = []
    node = obj
    while isinstance(node, dict | list) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if isinstance(node, dict) and key in ("apiVersion", "kind"):
            break
        path.append(key)
        node = node[key]
    if not path:
        obj["spec" if "spec" in obj else "metadata"]["unexpectedField"] = 1
        return
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    choice = rng.random()
    if choice < 0.4:
        parent[path[-1]] = {"a": 1} if isinstance(parent[path[-1]], str | int | list) else "text"
    elif choice < 0.7 and isinstance(parent, dict):
        parent[f"x{rng.randrange(100)}Unknown"] = True
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = None


def test_an_invalid_object_is_one_clear_message() -> None:
    (deployment,) = [
        o for o in rendered(load_fixture("basic")) if o["kind"] == "Deployment" and o["metadata"]["name"] == "api"
    ]
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    with pytest.raises(SpecError) as info:
        validate([deployment], ["1.31"])
    message = str(info.value)
    assert "Deployment/api (from services.api) is not a valid Kubernetes 1.31 object" in message
    assert "spec.template.spec.containers.0" in message and "'resource' was unexpected" in message


def test_gateway_objects_are_checked_against_the_crd_schemas() -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "web"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "rules": [{"backendRefs": [{"name": "web", "port": 80, "weight": 101}]}],
        },
    }
    assert errors(route, "1.31") == []
    route["spec"]["rules"][0]["backendRefs"][0]["weight"] = -1
    assert "less than the minimum" in errors(route, "1.31")[0]
    gateway = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "public", "namespace": "infra"},
        "spec": {"gatewayClassName": "nginx", "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]},
    }
    assert errors(gateway, "1.31") == []
    del gateway["spec"]["listeners"]
    assert "'listeners' is a required property" in errors(gateway, "1.31")[0]
    assert "no Gateway API schema" in errors({**route, "kind": "TCPRoute"}, "1.31")[0]


def test_unsupported_versions_are_refused_with_the_range() -> None:
    with pytest.raises(SpecError, match=r"no Kubernetes 1\.99 schemas"):
        schema_version("1.99")
    with pytest.raises(SpecError, match="older than"):
        validate([], ["1.10"]) if False else schema_version("1.10")


def test_kinds_that_do_not_exist_in_a_version_are_reported() -> None:
    assert (
        "has no Deployment in apps/v1beta1"
        in errors({"apiVersion": "apps/v1beta1", "kind": "Deployment", "metadata": {"name": "x"}}, "1.31")[0]
    )


def test_crd_schemas_are_the_reference_ones() -> None:
    from escadre.drivers.kubernetes.validate import SCHEMAS

    schema = json.loads((SCHEMAS / "httproute-v1.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    assert "spec" in schema["properties"]
