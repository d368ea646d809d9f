"""Where every key and value of a Compose document came from, so errors can name ``file:line:column``.

The loader works on plain Python data (``dict``/``list``/scalars): that is what interpolation, the JSON
schema, merging and normalization all want. Positions therefore live *beside* the data, in a tree of
:class:`LocNode` that mirrors it: a mapping entry's node knows where its key and its value start, a
sequence item's node where the item starts, and both hold their children by key or index.

Keeping a parallel tree rather than a flat ``{path: location}`` table is what lets positions survive the
pipeline cheaply:

* interpolation replaces scalars in place, so the tree is untouched;
* merging another file's subtree in is one assignment (``graft``); a key then carries the position in the
  file that set it last, which is what a user fixing the value needs;
* turning a list into a mapping (``environment: [A=1]`` → ``{A: "1"}``) is one re-keying (``rekey``).

Lookups that miss (a path the normalizer invented) fall back to the nearest known ancestor, so an error
always has *some* position in the right file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from escadre.core.errors import SourceLocation, SpecError

Key = str | int
Path = tuple[Key, ...]


def format_path(path: Iterable[Key]) -> str:
    """``("services", "web", "ports", 0)`` → ``services.web.ports[0]`` (the form used in messages)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass(slots=True)
class LocNode:
    """Position of one node. ``at`` is the key (mapping entry) or item (sequence) position; ``value`` is
    where the value itself starts. ``children`` is keyed like the data (``str`` or ``int``)."""

    at: SourceLocation
    value: SourceLocation
    children: dict[Key, LocNode] = field(default_factory=dict)

    def child(self, key: Key) -> LocNode | None:
        return self.children.get(key)

    def find(self, path: Iterable[Key]) -> LocNode | None:
        node: LocNode | None = self
        for part in path:
            if node is None:
                return None
            node = node.children.get(part)
        return node

    def nearest(self, path: Iterable[Key]) -> LocNode:
        """The node at ``path`` or, failing that, its deepest known ancestor."""
        node = self
        for part in path:
            nxt = node.children.get(part)
            if nxt is None:
                break
            node = nxt
        return node

    def copy(self) -> LocNode:
        return LocNode(self.at, self.value, {k: v.copy() for k, v in self.children.items()})

    def rekey(self, mapping: Mapping[Key, Key]) -> None:
        """Rename children (old key → new key); children not named in ``mapping`` are dropped."""
        self.children = {new: self.children[old] for old, new in mapping.items() if old in self.children}

    def graft(self, key: Key, node: LocNode | None) -> None:
        """Put ``node`` (a subtree from another file, usually) at ``key``."""
        if node is None:
            self.children.pop(key, None)
        else:
            self.children[key] = node


def synthetic(file: str) -> LocNode:
    """A node for data that has no position of its own (a default the loader supplies)."""
    loc = SourceLocation(file)
    return LocNode(loc, loc)


@dataclass(slots=True)
class Located:
    """A document (plain data) together with the position tree that mirrors it."""

    data: dict[str, object]
    loc: LocNode

    @property
    def file(self) -> str:
        return self.loc.at.file


def key_location(loc: LocNode, path: Iterable[Key]) -> SourceLocation:
    """Position of the key (or item) at ``path``, or of the nearest ancestor known."""
    return loc.nearest(path).at


def value_location(loc: LocNode, path: Iterable[Key]) -> SourceLocation:
    """Position of the value at ``path`` (falls back like :func:`key_location`)."""
    return loc.nearest(path).value


def spec_error(
    loc: LocNode, path: Path, message: str, *, hint: str | None = None, at_value: bool = False
) -> SpecError:
    """A :class:`SpecError` for ``path`` whose message starts with the dotted path."""
    where = value_location(loc, path) if at_value else key_location(loc, path)
    return SpecError(f"{format_path(path)}: {message}", location=where, hint=hint)
