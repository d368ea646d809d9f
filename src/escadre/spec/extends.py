"""``extends``: a service built on another one, in the same file or in another file.

Resolution happens per file, after interpolation and validation and before the ``-f`` files are merged,
which is when ``docker compose`` does it; so ``extends: {service: base}`` without ``file`` looks in the
same file. The extended service is resolved first (chains work), then the extending service is merged
onto a copy of it with the ordinary merge rules (:func:`escadre.spec.merge.merge_service`).

Deliberate choices:

* ``depends_on``, ``volumes_from`` and ``links`` are not inherited, as the Compose documentation states
  ("never shared between services using extends") — a dependency must be visible where the service is
  written. (``docker compose`` v2 currently does inherit them, against its own documentation.)
* Relative paths in a service extended from another file are made absolute against that file's directory.
* A cycle (``a`` extends ``b`` extends ``a``, possibly across files) is an error naming the whole cycle.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.locator import LocNode, format_path, key_location
from escadre.spec.merge import clean, merge_service
from escadre.spec.paths import absolutize_service, resolve
from escadre.spec.yamlsource import ParsedFile

NOT_INHERITED = ("depends_on", "volumes_from", "links", "extends")

FileLoader = Callable[[str, SourceLocation], ParsedFile]
"""Loads (parses, interpolates, validates) the Compose file at an absolute path; ``at`` asked for it."""


class ExtendsResolver:
    """Resolves ``extends`` for every service of the files it is given; remembers resolved services."""

    def __init__(self, load_file: FileLoader) -> None:
        self.load_file = load_file
        self.done: dict[tuple[str, str], tuple[dict[str, Any], LocNode]] = {}

    def apply(self, parsed: ParsedFile, path: str) -> None:
        """Replace every service of ``parsed`` (read from absolute ``path``) by its resolved form."""
        services = parsed.data.get("services")
        if not isinstance(services, dict):
            return
        services_loc = parsed.loc.children.get("services", parsed.loc)
        for name in list(services):
            if isinstance(services[name], dict) and "extends" in services[name]:
                data, loc = self._resolve(parsed, path, name, ())
                services[name] = data
                services_loc.children[name] = loc

    def _resolve(
        self, parsed: ParsedFile, path: str, name: str, chain: tuple[tuple[str, str, str], ...]
    ) -> tuple[dict[str, Any], LocNode]:
        key = (os.path.realpath(path), name)
        if key in self.done:
            return self.done[key]
        services = parsed.data["services"]
        services_loc = parsed.loc.children.get("services", parsed.loc)
        service: dict[str, Any] = services[name]
        service_loc = services_loc.children.get(name, services_loc)
        if any(c[:2] == key for c in chain):
            names = [f"{n} ({f})" for _, n, f in chain] + [f"{name} ({parsed.file})"]
            raise SpecError(
                "extends cycle: " + " → ".join(names),
                location=service_loc.at,
                hint="one of these services must stop extending the next",
            )
        chain = (*chain, (key[0], name, parsed.file))
        if "extends" not in service:
            return service, service_loc
        spec = service["extends"]
        spec_path = ("services", name, "extends")
        ext_loc = key_location(parsed.loc, spec_path)
        base_name = spec if isinstance(spec, str) else spec.get("service")
        base_file = None if isinstance(spec, str) else spec.get("file")
        if base_file is not None:
            target = resolve(os.path.dirname(path), base_file)
            file_at = key_location(parsed.loc, (*spec_path, "file"))
            other = self.load_file(target, file_at)
            other_services = other.data.get("services")
            if not isinstance(other_services, dict) or base_name not in other_services:
                raise SpecError(
                    f"{format_path(spec_path)}: service {base_name!r} not found in {other.file}",
                    location=key_location(parsed.loc, (*spec_path, "service")) if isinstance(spec, dict) else ext_loc,
                )
            base, base_loc = self._resolve(other, target, base_name, chain)
            base = absolutize_service(base, os.path.dirname(target))
        else:
            if not isinstance(services.get(base_name), dict):
                raise SpecError(
                    f"{format_path(spec_path)}: service {base_name!r} not found in this file",
                    location=key_location(parsed.loc, (*spec_path, "service")) if isinstance(spec, dict) else ext_loc,
                    hint="add 'file:' to extend a service defined in another file",
                )
            base, base_loc = self._resolve(parsed, path, base_name, chain)
        inherited = {k: v for k, v in copy.deepcopy(clean(base)).items() if k not in NOT_INHERITED}
        own = {k: v for k, v in service.items() if k != "extends"}
        merged, merged_loc = merge_service(inherited, base_loc.copy(), own, service_loc)
        merged_loc = service_loc.with_children(merged_loc.children)
        self.done[key] = (merged, merged_loc)
        return merged, merged_loc
