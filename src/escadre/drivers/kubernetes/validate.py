"""Every object Escadre renders or applies is checked against the official schemas first.

* Core kinds: the JSON schemas shipped by ``kubernetes-validate`` (Kubernetes 1.25 → 1.37, the *strict*
  flavour, where an unknown field is an error, as it is for ``kubectl apply --validate=strict``).
* Gateway API kinds (``HTTPRoute``, ``Gateway``, ``GatewayClass``, ``ReferenceGrant``): the CRDs'
  ``openAPIV3Schema`` (``schemas/``, see ``schemas/SOURCE``) — ``kubernetes-validate`` only *warns* on kinds
  it does not know, which would let a broken route through.

Speed: ``kubernetes_validate.validate`` re-reads and re-parses the 1.3 MB definitions file for every
object, and ``jsonschema`` interprets the schema for every value; a 100-service file has ~500 objects. So
the same schema files are loaded once per version, compiled into closures by ``escadre.spec.fastschema``
(which answers "valid" only when ``jsonschema`` would), and only an object that does not pass is handed to
``kubernetes_validate.validate`` / ``jsonschema`` to produce the exact error.

CEL rules (``x-kubernetes-validations``) of the Gateway CRDs and the API server's own checks (name
lengths, immutable fields) are not schema and are not checked here; docs/kubernetes.md says so.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from escadre.core.errors import SpecError
from escadre.drivers.kubernetes.translate.common import COMPOSE_PATH, Manifest, parse_version
from escadre.spec.fastschema import Check, compile_schema

GATEWAY_GROUP = "gateway.networking.k8s.io"
SCHEMAS = Path(__file__).parent / "schemas"
_NOT_KEYWORDS = ("x-kubernetes-", "format", "discriminator", "fields-to-discriminateBy")
_CONTAINERS = ("properties", "definitions", "$defs", "patternProperties")


@functools.cache
def supported_versions() -> tuple[tuple[int, int], ...]:
    """Kubernetes minor versions the installed ``kubernetes-validate`` has schemas for."""
    root = resources.files("kubernetes_validate").joinpath("kubernetes-json-schema")
    found = set()
    for entry in root.iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if match:
            found.add((int(match.group(1)), int(match.group(2))))
    return tuple(sorted(found))


def schema_version(version: str) -> tuple[int, int]:
    """The schema set used for ``version``: the newest one not newer than it."""
    wanted = parse_version(version)
    usable = [v for v in supported_versions() if v <= wanted]
    if not usable or wanted > supported_versions()[-1]:
        newest = supported_versions()[-1]
        raise SpecError(
            f"no Kubernetes {wanted[0]}.{wanted[1]} schemas in the installed kubernetes-validate "
            f"(it has {supported_versions()[0][0]}.{supported_versions()[0][1]} to {newest[0]}.{newest[1]})",
            hint="pip install -U kubernetes-validate, or pass an older --k8s-version",
        )
    return usable[-1]


def _strip(schema: Any, *, container: bool = False) -> Any:
    """Drop annotation-only keywords ``fastschema`` does not know (``jsonschema`` ignores them too)."""
    if isinstance(schema, list):
        return [_strip(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if container:
        return {key: _strip(value) for key, value in schema.items()}
    return {
        key: _strip(value, container=key in _CONTAINERS)
        for key, value in schema.items()
        if not key.startswith(_NOT_KEYWORDS)
    }


def _read(version: tuple[int, int], filename: str) -> str | None:
    path = resources.files("kubernetes_validate").joinpath(
        f"kubernetes-json-schema/v{version[0]}.{version[1]}.0-local-strict/{filename}"
    )
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return text.replace('"/api/_definitions.json#/$defs/', '"#/definitions/').replace('"#/$defs/', '"#/definitions/')


@functools.cache
def _definitions(version: tuple[int, int]) -> dict[str, Any]:
    text = _read(version, "_definitions.json")
    assert text is not None, "kubernetes-validate is missing its definitions"
    return _strip(json.loads(text)["$defs"], container=True)  # type: ignore[no-any-return]


def _schema_file(api_version: str, kind: str) -> str:
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return f"{kind.lower()}-{api}.json"


@functools.cache
def _core_check(version: tuple[int, int], api_version: str, kind: str) -> Check | None:
    text = _read(version, _schema_file(api_version, kind))
    if text is None:
        return None
    root = _strip(json.loads(text))
    root["definitions"] = _definitions(version)
    return compile_schema(root)


@functools.cache
def _gateway_schema(api_version: str, kind: str) -> dict[str, Any] | None:
    version = api_version.split("/", 1)[1]
    path = SCHEMAS / f"{kind.lower()}-{version}.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@functools.cache
def _gateway_validator(api_version: str, kind: str) -> Any:
    import jsonschema

    schema = _gateway_schema(api_version, kind)
    return None if schema is None else jsonschema.Draft7Validator(schema)


def _describe(obj: Manifest) -> str:
    meta = obj.get("metadata") or {}
    where = (meta.get("annotations") or {}).get(COMPOSE_PATH)
    name = f"{obj.get('kind')}/{meta.get('name')}"
    return f"{name} (from {where})" if where else name


def errors(obj: Manifest, version: str) -> list[str]:
    """Why ``obj`` is not valid for Kubernetes ``version`` (empty when it is)."""
    api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
    if api_version.startswith(GATEWAY_GROUP + "/"):
        validator = _gateway_validator(api_version, kind)
        if validator is None:
            return [f"no Gateway API schema for {kind} {api_version}"]
        return [
            f"{'.'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        ][:5]
    schemas = schema_version(version)
    check = _core_check(schemas, api_version, kind)
    if check is None:
        return [f"Kubernetes {schemas[0]}.{schemas[1]} has no {kind} in {api_version}"]
    if check(obj):
        return []
    import kubernetes_validate  # type: ignore[import-untyped]

    try:
        kubernetes_validate.validate(obj, f"{schemas[0]}.{schemas[1]}", strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in exc.path) or '(root)'}: {exc.message}"]
    return []  # the fast path is conservative: jsonschema has the last word


def validate(objects: Iterable[Manifest], versions: Sequence[str]) -> None:
    """Raise a ``SpecError`` naming the first object that is invalid for one of ``versions``."""
    objects = list(objects)
    for version in versions:
        for obj in objects:
            problems = errors(obj, version)
            if problems:
                raise SpecError(
                    f"{_describe(obj)} is not a valid Kubernetes {version} object: {problems[0]}",
                    hint="this is what the Compose value became; fix it in the Compose file "
                    "(docs/kubernetes.md has the translation table)",
                )
