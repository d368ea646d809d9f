"""Where every key and value of a Compose document came from, so errors can name ``file:line:column``.

The loader works on plain Python data (``dict``/``list``/scalars): that is what interpolation, the JSON
schema, merging and normalization all want. Positions therefore live *beside* the data, in a tree of
:class:`LocNode` that mirrors it: a mapping entry's node knows where its key and its value start, a
sequence item's node where the item starts, and both hold their children by key or index.

Keeping a parallel tree rather than a flat ``{path: location}`` table is what lets positions survive the
pipeline cheaply:

* interpolation replaces scalars in place, so the tree is untouched;
* merging another file's subtree in is one assignment; a key then carries the position in the
  file that set it last, which is what a user fixing the value needs;
* turning a list into a mapping (``environment: [A=1]`` → ``{A: "1"}``) is one re-keying (``rekey``).

Lookups that miss (a path the normalizer invented) fall back to the nearest known ancestor, so an error
always has *some* position in the right file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from escadre.core.errors import SourceLocation

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
    return out or "top level"


class LocNode:
    """Position of one node: where its key (mapping entry) or item (sequence) starts — ``at`` — and where
    its value starts — ``value``. ``children`` is keyed like the data (``str`` or ``int``).

    Positions are kept as plain integers and turned into :class:`SourceLocation` on demand: a file has
    thousands of nodes and only the one an error points at is ever shown.
    """

    __slots__ = ("children", "column", "file", "line", "vcolumn", "vline")

    def __init__(
        self,
        file: str,
        line: int = 0,
        column: int = 0,
        vline: int = 0,
        vcolumn: int = 0,
        children: dict[Key, LocNode] | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.vline = vline
        self.vcolumn = vcolumn
        self.children: dict[Key, LocNode] = {} if children is None else children

    @property
    def at(self) -> SourceLocation:
        return SourceLocation(self.file, self.line, self.column)

    @property
    def value(self) -> SourceLocation:
        return SourceLocation(self.file, self.vline, self.vcolumn)

    def __repr__(self) -> str:
        return f"LocNode({self.at}, value={self.value}, children={list(self.children)})"

    def with_children(self, children: dict[Key, LocNode]) -> LocNode:
        """The same positions with other children (used when merging builds a new container)."""
        return LocNode(self.file, self.line, self.column, self.vline, self.vcolumn, children)

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
        return self.with_children({k: v.copy() for k, v in self.children.items()})

    def rekey(self, mapping: Mapping[Key, Key]) -> None:
        """Rename children (old key → new key); children not named in ``mapping`` are dropped."""
        self.children = {new: self.children[old] for old, new in mapping.items() if old in self.children}


def synthetic(file: str) -> LocNode:
    """A node for data that has no position of its own (a default the loader supplies)."""
    return LocNode(file)


def key_location(loc: LocNode, path: Iterable[Key]) -> SourceLocation:
    """Position of the key (or item) at ``path``, or of the nearest ancestor known."""
    return loc.nearest(path).at
