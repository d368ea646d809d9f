"""``load_project``: Compose files in, an immutable :class:`~escadre.model.project.Project` out.

The whole pipeline, with the module that does each step::

    discover_files ─► .env (envfile) ─► per file: parse (yamlsource) ─► interpolate ─► validate (schema)
        ─► include / extends (sources, extends) ─► merge ─► profiles (checks) ─► normalize
        ─► references, cycles, files (checks) ─► Project (build_model)

Project-level inputs follow ``docker compose``: the project directory is the first file's directory; the
project name comes from ``-p``, else ``COMPOSE_PROJECT_NAME``, else the top-level ``name:``, else the
directory name; profiles from ``--profile`` else ``COMPOSE_PROFILES``; the real environment wins over
``.env``. ``COMPOSE_*`` variables may be set in either. Every user mistake ends as a
:class:`~escadre.core.errors.SpecError` with a file position; warnings (unset variables, obsolete
``version``) are returned by :func:`load` and logged by :func:`load_project`.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from escadre.core.errors import SourceLocation, SpecError
from escadre.model.project import Project
from escadre.spec import checks
from escadre.spec.build_model import build_project
from escadre.spec.context import Norm
from escadre.spec.envfile import layered, read_env_file
from escadre.spec.interpolate import Interpolator, TemplateError
from escadre.spec.normalize import normalize_document
from escadre.spec.paths import display_path
from escadre.spec.sources import LoadContext, ProjectFiles, parse_file
from escadre.spec.yamlsource import ParsedFile

log = logging.getLogger("escadre.spec")

DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILES = {
    "compose.yaml": ("compose.override.yaml", "compose.override.yml"),
    "compose.yml": ("compose.override.yml", "compose.override.yaml"),
    "docker-compose.yaml": ("docker-compose.override.yaml", "docker-compose.override.yml"),
    "docker-compose.yml": ("docker-compose.override.yml", "docker-compose.override.yaml"),
}
_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class LoadResult:
    project: Project
    warnings: list[str] = field(default_factory=list)


def discover_files(project_dir: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The Compose files ``docker compose`` would use in ``project_dir``: ``COMPOSE_FILE`` when set,
    else the first of :data:`DEFAULT_FILES` plus its override file when present."""
    env = os.environ if environ is None else environ
    listed = env.get("COMPOSE_FILE")
    if listed:
        separator = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        return [os.path.join(project_dir, p) for p in listed.split(separator) if p]
    for name in DEFAULT_FILES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            overrides = [os.path.join(project_dir, o) for o in OVERRIDE_FILES[name]]
            return [path, *[o for o in overrides if os.path.isfile(o)][:1]]
    raise SpecError(
        f"no Compose file found in {project_dir} (looked for {', '.join(DEFAULT_FILES)})",
        hint="run from the project directory, or name the file with -f",
    )


def normalize_project_name(name: str) -> str:
    """A directory name made into a project name: lowercase, only ``[a-z0-9_-]``, starting alphanumeric."""
    cleaned = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return cleaned.lstrip("_-")


def _check_name(name: str, source: str, location: SourceLocation | None = None) -> str:
    if not _PROJECT_NAME.match(name):
        raise SpecError(
            f"invalid project name {name!r} (from {source}): use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit",
            location=location,
        )
    return name


def load(
    files: Sequence[str] | None = None,
    *,
    project_dir: str | None = None,
    project_name: str | None = None,
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    check_files: bool = True,
) -> LoadResult:
    """Load a Compose project; see :func:`load_project` for the parameters. Returns warnings too."""
    real_env: Mapping[str, str] = dict(os.environ if environ is None else environ)
    base_dir = os.path.abspath(project_dir) if project_dir else None

    # .env comes from the project directory, which (without -f) is also where files are discovered.
    if files:
        paths = [os.path.abspath(f) for f in files]
        work_dir = base_dir or os.path.dirname(paths[0])
    else:
        work_dir = base_dir or os.getcwd()
        paths = []
    dotenv = _read_dotenv(work_dir, env_files, real_env)
    variables = layered(real_env, dotenv)
    if not paths:
        paths = [os.path.abspath(p) for p in discover_files(work_dir, variables)]
        if base_dir is None and "COMPOSE_FILE" not in variables:
            work_dir = os.path.dirname(paths[0])

    ctx = LoadContext(environ=real_env)
    ctx.include_stack = tuple(os.path.realpath(p) for p in paths)
    parsed = [parse_file(p) for p in paths]
    name = _project_name(project_name, variables, parsed, work_dir)
    variables.setdefault("COMPOSE_PROJECT_NAME", name)

    merged = ProjectFiles(ctx, work_dir, variables).load(paths, parsed)
    raw = merged.data
    services = raw.get("services") or {}
    active = list(profiles) if profiles is not None else _env_profiles(variables)
    enabled = checks.enabled_services(services, active)

    norm = Norm(project=name, project_dir=work_dir, variables=variables, loc=merged.loc)
    doc = normalize_document(norm, raw, enabled)
    checks.check_references(norm, doc, services)
    checks.check_services(norm, doc)
    if check_files:
        checks.check_files(norm, doc)
    project = build_project(norm, doc, files=tuple(paths), profiles=tuple(active))
    return LoadResult(project, [*ctx.warnings, *norm.warnings])


def load_project(
    files: Sequence[str] | None = None,
    *,
    project_dir: str | None = None,
    project_name: str | None = None,
    env_files: Sequence[str] | None = None,
    profiles: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    check_files: bool = True,
) -> Project:
    """Load, merge, validate and normalize a Compose project.

    ``files`` are the ``-f`` files in order (``None``: discover them in ``project_dir``);
    ``project_dir`` defaults to the first file's directory (or the current directory);
    ``project_name`` is ``-p``; ``env_files`` replace ``<project_dir>/.env``; ``profiles`` replace
    ``COMPOSE_PROFILES``; ``environ`` replaces ``os.environ``; ``check_files=False`` skips checking that
    secret/config files and build contexts exist (for rendering on a machine without them).
    Warnings are logged on the ``escadre.spec`` logger.
    """
    result = load(
        files,
        project_dir=project_dir,
        project_name=project_name,
        env_files=env_files,
        profiles=profiles,
        environ=environ,
        check_files=check_files,
    )
    for message in result.warnings:
        log.warning("%s", message)
    return result.project


def _read_dotenv(work_dir: str, env_files: Sequence[str] | None, environ: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}

    def lookup(name: str) -> str | None:
        return environ.get(name, values.get(name))

    if env_files is None:
        default = os.path.join(work_dir, ".env")
        if not os.path.isfile(default):
            return values
        return read_env_file(default, display_path(default), environ.get)
    for env_file in env_files:
        path = os.path.abspath(env_file)
        if not os.path.isfile(path):
            raise SpecError(f"env file {env_file} not found", hint="check the --env-file path")
        values.update(read_env_file(path, display_path(path), lookup))
    return values


def _env_profiles(variables: Mapping[str, str]) -> list[str]:
    listed = variables.get("COMPOSE_PROFILES", "")
    return [p.strip() for p in listed.split(",") if p.strip()]


def _project_name(given: str | None, variables: Mapping[str, str], parsed: list[ParsedFile], work_dir: str) -> str:
    if given:
        return _check_name(given, "-p")
    if variables.get("COMPOSE_PROJECT_NAME"):
        return _check_name(variables["COMPOSE_PROJECT_NAME"], "COMPOSE_PROJECT_NAME")
    for doc in reversed(parsed):
        value = doc.data.get("name")
        if isinstance(value, str) and value:
            node = doc.loc.children.get("name", doc.loc)
            try:
                text = Interpolator(variables.get).substitute(value)
            except TemplateError as exc:
                raise SpecError(f"name: {exc}", location=node.value) from None
            if text:
                return _check_name(text, f"'name:' in {doc.file}", node.value)
    name = normalize_project_name(os.path.basename(os.path.normpath(work_dir)))
    if not name:
        raise SpecError(
            f"cannot derive a project name from the directory {work_dir}",
            hint="set one with -p NAME, COMPOSE_PROJECT_NAME, or 'name:' in the Compose file",
        )
    return name
