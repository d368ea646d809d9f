"""From file names to one merged raw Compose document: read, interpolate, validate, include, extend, merge.

This is the per-file half of the loader, in the order ``docker compose`` applies it to each ``-f`` file:

1. parse YAML with positions (:mod:`escadre.spec.yamlsource`);
2. substitute ``${VAR}`` (:mod:`escadre.spec.interpolate`);
3. validate against the Compose schema (:mod:`escadre.spec.schema`);
4. import the projects named in ``include:`` (loaded by this same pipeline, with their own project
   directory and ``.env``; their relative paths are made absolute; a name they define that the including
   file also defines differently is an error — includes never override silently);
5. resolve ``extends`` (:mod:`escadre.spec.extends`);
6. merge into the files before it (:mod:`escadre.spec.merge`).

A :class:`LoadContext` carries what one load shares: the real environment, the warnings, and a cache so a
file extended by many services is read once.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec import schema
from escadre.spec.envfile import read_env_file
from escadre.spec.extends import ExtendsResolver
from escadre.spec.interpolate import Interpolator, interpolate_tree, missing_warnings
from escadre.spec.locator import LocNode, format_path, key_location, synthetic
from escadre.spec.merge import merge_documents
from escadre.spec.paths import absolutize_document, display_path, resolve
from escadre.spec.yamlsource import ParsedFile, read_yaml_file

_IMPORTED = ("services", "networks", "volumes", "secrets", "configs")


@dataclass
class LoadContext:
    environ: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    cache: dict[tuple[str, int], ParsedFile] = field(default_factory=dict)
    include_stack: tuple[str, ...] = ()

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


@dataclass
class Merged:
    """A project's merged raw document and positions, before normalization."""

    data: dict[str, Any]
    loc: LocNode
    files: list[str]


def parse_file(path: str, at: SourceLocation | None = None) -> ParsedFile:
    return read_yaml_file(path, display_path(path), at=at)


def prepare(parsed: ParsedFile, variables: Mapping[str, str], ctx: LoadContext) -> ParsedFile:
    """Interpolate and validate one parsed file (in place)."""
    interpolator = Interpolator(variables.get)
    interpolate_tree(parsed.data, parsed.loc, interpolator)
    for message in missing_warnings(interpolator):
        ctx.warn(message)
    schema.validate(parsed.data, parsed.loc, has_markers=parsed.has_markers)
    if "version" in parsed.data:
        ctx.warn(f"{parsed.file}: the attribute 'version' is obsolete and ignored")
    return parsed


class ProjectFiles:
    """Loads the files of one project (the main one, or one brought in by ``include``)."""

    def __init__(self, ctx: LoadContext, project_dir: str, variables: Mapping[str, str]) -> None:
        self.ctx = ctx
        self.project_dir = project_dir
        self.variables = variables
        self.extends = ExtendsResolver(self._load_extended)

    def _load_extended(self, path: str, at: SourceLocation) -> ParsedFile:
        key = (os.path.realpath(path), id(self.variables))
        cached = self.ctx.cache.get(key)
        if cached is None:
            # extends inside it are resolved on demand, service by service, so cycles are seen
            cached = prepare(parse_file(path, at), self.variables, self.ctx)
            self.ctx.cache[key] = cached
        return cached

    def load(self, paths: Sequence[str], parsed: Sequence[ParsedFile] | None = None) -> Merged:
        data: dict[str, Any] = {}
        loc: LocNode | None = None
        for index, path in enumerate(paths):
            raw = parsed[index] if parsed is not None else parse_file(path)
            doc = prepare(raw, self.variables, self.ctx)
            self._includes(doc, path)
            self.extends.apply(doc, path)
            if loc is None:
                data, loc = merge_documents({}, doc.loc.with_children({}), doc.data, doc.loc)
            else:
                data, loc = merge_documents(data, loc, doc.data, doc.loc)
        return Merged(data, loc or synthetic(self.project_dir), list(paths))

    # -------------------------------------------------------------------------------------- include

    def _includes(self, doc: ParsedFile, path: str) -> None:
        entries = doc.data.pop("include", None)
        if not entries:
            return
        include_loc = doc.loc.children.get("include", doc.loc)
        for index, entry in enumerate(entries):
            at = include_loc.children.get(index, include_loc)
            self._include_one(doc, entry, at, ("include", index))

    def _include_one(self, doc: ParsedFile, entry: Any, at: LocNode, where: tuple[str | int, ...]) -> None:
        spec: dict[str, Any] = {"path": entry} if isinstance(entry, str) else dict(entry)
        raw_paths = spec.get("path")
        paths = [raw_paths] if isinstance(raw_paths, str) else list(raw_paths or [])
        if not paths:
            raise SpecError(f"{format_path(where)}: 'path' is required", location=at.at)
        files = [resolve(self.project_dir, p) for p in paths]
        project_dir = resolve(self.project_dir, spec["project_directory"]) if "project_directory" in spec else None
        project_dir = project_dir or os.path.dirname(files[0])
        for file in files:
            real = os.path.realpath(file)
            if real in self.ctx.include_stack:
                cycle = [display_path(p) for p in (*self.ctx.include_stack, real)]
                raise SpecError(f"include cycle: {' → '.join(cycle)}", location=at.at)
            if not os.path.isfile(file):
                raise SpecError(
                    f"{format_path(where)}: included file {display_path(file)} not found", location=at.value
                )
        env_files = spec.get("env_file")
        env_list = [env_files] if isinstance(env_files, str) else list(env_files or [])
        dotenv: dict[str, str] = {}
        if env_list:
            for env_path in env_list:
                absolute = resolve(self.project_dir, env_path)
                dotenv.update(read_env_file(absolute, display_path(absolute), self._lookup(dotenv), at=at.at))
        elif os.path.isfile(os.path.join(project_dir, ".env")):
            default_env = os.path.join(project_dir, ".env")
            dotenv = read_env_file(default_env, display_path(default_env), self._lookup({}), at=at.at)
        variables = {**self.variables, **dotenv, **self.ctx.environ}
        outer_stack = self.ctx.include_stack
        self.ctx.include_stack = (*outer_stack, *(os.path.realpath(f) for f in files))
        try:
            merged = ProjectFiles(self.ctx, project_dir, variables).load(files)
        finally:
            self.ctx.include_stack = outer_stack
        imported = absolutize_document(merged.data, project_dir)
        self._import(doc, imported, merged.loc, files, at)

    def _lookup(self, dotenv: Mapping[str, str]) -> Callable[[str], str | None]:
        def lookup(name: str) -> str | None:
            return self.ctx.environ.get(name, dotenv.get(name, self.variables.get(name)))

        return lookup

    def _import(
        self, doc: ParsedFile, imported: dict[str, Any], imported_loc: LocNode, files: list[str], at: LocNode
    ) -> None:
        for section in _IMPORTED:
            entries = imported.get(section)
            if not isinstance(entries, dict) or not entries:
                continue
            target = doc.data.get(section)
            if target is None:
                target = doc.data[section] = {}
                doc.loc.children.setdefault(section, at.with_children({}))
            target_loc = doc.loc.children[section]
            source_loc = imported_loc.children.get(section, imported_loc)
            for name, value in entries.items():
                if name in target and target[name] != value:
                    where = key_location(doc.loc, (section, name))
                    kind = section.rstrip("s")
                    raise SpecError(
                        f"included file {display_path(files[0])} defines {kind} {name!r}, "
                        f"which {doc.file} also defines (at {where})",
                        location=at.at,
                        hint=f"rename one of them, or remove the {kind} from one file",
                    )
                target[name] = copy.deepcopy(value)
                target_loc.children[name] = source_loc.children.get(name, source_loc).copy()
