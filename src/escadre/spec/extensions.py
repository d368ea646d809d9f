"""Parsing ``x-escadre`` (top level and per service) into the typed settings of ``escadre.model.settings``.

Imported only when a file uses ``x-escadre``, so plain Compose files never load pydantic. A pydantic
``ValidationError`` becomes a ``SpecError`` at the offending key, in plain words (``must be one of …``,
``unknown key 'stratgy' (did you mean 'strategy'?)``). Rollouts that name an analysis template which
is not defined are rejected here too.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from escadre.model.settings import AnalysisRef, ProjectSettings, RolloutSpec, ServiceSettings
from escadre.spec.context import Norm
from escadre.spec.locator import Path

SETTINGS_KEY = "x-escadre"


def parse_settings(norm: Norm, doc: dict[str, Any]) -> tuple[ProjectSettings | None, dict[str, ServiceSettings]]:
    """The project's and each service's settings (``None``/absent where a section has no x-escadre)."""
    project_settings = _settings(norm, ProjectSettings, doc.get(SETTINGS_KEY), (SETTINGS_KEY,))
    templates = project_settings.analysis_templates if project_settings else {}
    if project_settings is not None and project_settings.rollout is not None:
        _check_templates(norm, project_settings.rollout, templates, (SETTINGS_KEY, "rollout"))
    services: dict[str, ServiceSettings] = {}
    for name, spec in doc["services"].items():
        base: Path = ("services", name, SETTINGS_KEY)
        settings = _settings(norm, ServiceSettings, spec.get(SETTINGS_KEY), base)
        if settings is None:
            continue
        if settings.rollout is not None:
            _check_templates(norm, settings.rollout, templates, (*base, "rollout"))
        services[name] = settings
    return project_settings, services


M = typing.TypeVar("M", bound=BaseModel)


def _settings(norm: Norm, model: type[M], data: Any, path: Path) -> M | None:
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = _data_path(data, error["loc"])
        message = _pydantic_message(model, error, data)
        raise norm.error((*path, *loc), message) from None


def _data_path(data: Any, loc: tuple[int | str, ...]) -> Path:
    """Pydantic's error location, keeping only the parts that exist in the data (not union tags)."""
    out: list[str | int] = []
    current = data
    for part in loc:
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            out.append(part)
            current = current[part]
        elif isinstance(current, dict) and isinstance(part, str) and out[-1:] != [part]:
            out.append(part)  # a missing or unknown key: name it, then stop
            break
        else:
            break
    return tuple(out)


def _pydantic_message(model: type[BaseModel], error: Mapping[str, Any], data: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"must be one of {', '.join(choices)}" if choices else str(error["msg"])
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        known = _fields_at(model, error["loc"][:-1])
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        suffix = f" (did you mean {close[0]!r}?)" if close else (f"; allowed: {', '.join(known)}" if known else "")
        return f"unknown key {name!r}{suffix}"
    if kind == "missing":
        return f"missing required key {str(error['loc'][-1])!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def _fields_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model reached by following ``loc`` from ``model`` (best effort)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, dict) or origin is not None:
        for arg in reversed(typing.get_args(annotation)):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _refs(rollout: RolloutSpec, path: Path) -> Iterator[tuple[AnalysisRef, Path]]:
    if rollout.analysis is not None:
        yield rollout.analysis, (*path, "analysis")
    for name in ("pre_promotion_analysis", "post_promotion_analysis"):
        ref = getattr(rollout, name)
        if ref is not None:
            yield ref, (*path, name)
    for index, step in enumerate(rollout.steps):
        if step.analysis is not None:
            yield step.analysis, (*path, "steps", index, "analysis")


def _check_templates(norm: Norm, rollout: RolloutSpec, templates: Mapping[str, Any], path: Path) -> None:
    for ref, ref_path in _refs(rollout, path):
        for index, name in enumerate(ref.templates):
            if name not in templates:
                defined = ", ".join(sorted(templates)) or "none"
                raise norm.error(
                    (*ref_path, "templates", index),
                    f"analysis template {name!r} is not defined (defined: {defined})",
                    hint="define it under the top-level x-escadre.analysis_templates",
                )
