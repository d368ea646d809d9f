"""Read a Compose YAML file into plain data plus a :class:`~escadre.spec.locator.LocNode` position tree.

PyYAML's C parser (libyaml, when installed) builds the node graph fast and gives every node a start mark;
we then construct the Python values ourselves instead of using a PyYAML constructor, because only a
hand-written walk can

* record the line/column of every key and value (PyYAML's constructors drop the marks);
* reject a key written twice in one mapping (PyYAML silently keeps the last one, which hides typos);
* honour the ``<<`` merge key while still knowing where each merged key was written;
* keep the ``!reset`` and ``!override`` tags that Compose override files use, as :class:`Reset` and
  :class:`Override` markers for the merge step.

Scalars follow what ``docker compose`` (Go, yaml.v3) does with untyped values rather than YAML 1.1: only
``true``/``false`` are booleans (``yes``, ``on``, ``no`` stay strings, so ``DEBUG: yes`` keeps meaning
"yes"), and dates stay strings. Integers keep YAML 1.1 forms (``0755`` is octal), which file modes rely on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml

from escadre.core.errors import SourceLocation, SpecError
from escadre.spec.locator import LocNode

try:  # libyaml is much faster; fall back to the pure-Python parser where it is missing
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

_TAG = "tag:yaml.org,2002:"
MAX_NODES = 100_000
"""Guard against alias bombs ("billion laughs"): no real Compose file comes near this many values."""
MAX_DEPTH = 200


@dataclass(frozen=True, slots=True)
class Reset:
    """``!reset``: remove the value set by earlier files."""


@dataclass(frozen=True, slots=True)
class Override:
    """``!override``: replace the value set by earlier files instead of merging with it."""

    value: Any


class _Loader(_BaseLoader):
    """Safe loader with Compose-like implicit typing (see the module docstring).

    Tag resolution is pure Python even under libyaml and runs a regex list per scalar; keys and common
    values repeat a lot in Compose files, so resolved tags are memoized (bounded).
    """

    _resolved: ClassVar[dict[tuple[str, Any], str]] = {}

    def resolve(self, kind: Any, value: str, implicit: Any) -> str:
        if kind is not yaml.ScalarNode or len(value) > 64:
            return str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
        key = (value, implicit)
        tag = self._resolved.get(key)
        if tag is None:
            if len(self._resolved) > 8192:
                self._resolved.clear()
            tag = self._resolved[key] = str(super().resolve(kind, value, implicit))  # type: ignore[no-untyped-call]
        return tag


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_TAG + "bool", _TAG + "timestamp")]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _location(file: str, mark: Any) -> SourceLocation:
    if mark is None:
        return SourceLocation(file)
    return SourceLocation(file, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns one composed node graph into data + positions."""

    def __init__(self, file: str, loader: Any) -> None:
        self.file = file
        self.loader = loader
        self.count = 0
        self.active: set[int] = set()
        self.has_markers = False

    def loc(self, node: yaml.Node) -> SourceLocation:
        return _location(self.file, node.start_mark)

    def new_loc(self, at: Any, node: yaml.Node) -> LocNode:
        """Positions for ``node`` whose key (or the item itself) starts at mark ``at``."""
        mark = node.start_mark
        return LocNode(self.file, at.line + 1, at.column + 1, mark.line + 1, mark.column + 1)

    def error(self, node: yaml.Node, message: str, hint: str | None = None) -> SpecError:
        return SpecError(message, location=self.loc(node), hint=hint)

    def build(self, node: yaml.Node, at: Any, depth: int = 0) -> tuple[Any, LocNode]:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.error(node, f"the document expands to more than {MAX_NODES} values (alias bomb?)")
        if depth > MAX_DEPTH:
            raise self.error(node, f"the document nests deeper than {MAX_DEPTH} levels")
        tag = node.tag or ""
        if tag in ("!reset", "!override"):
            self.has_markers = True
            if tag == "!reset":
                return Reset(), self.new_loc(at, node)
            inner = self.retag(node)
            value, loc = self.build(inner, at, depth + 1)
            return Override(value), loc
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, at, depth)
        if isinstance(node, yaml.SequenceNode):
            return self.sequence(node, at, depth)
        return self.scalar(node), self.new_loc(at, node)

    def enter(self, node: yaml.Node) -> None:
        if id(node) in self.active:
            raise self.error(node, "a YAML alias refers to a node that contains it (recursive structure)")
        self.active.add(id(node))

    def sequence(self, node: yaml.SequenceNode, at: Any, depth: int) -> tuple[Any, LocNode]:
        if node.tag not in (_TAG + "seq",):
            raise self.error(node, f"unsupported YAML tag {node.tag!r} on a sequence")
        self.enter(node)
        items: list[Any] = []
        loc = self.new_loc(at, node)
        for item in node.value:
            value, child = self.build(item, item.start_mark, depth + 1)
            loc.children[len(items)] = child
            items.append(value)
        self.active.discard(id(node))
        return items, loc

    def mapping(self, node: yaml.MappingNode, at: Any, depth: int) -> tuple[Any, LocNode]:
        if node.tag not in (_TAG + "map",):
            raise self.error(node, f"unsupported YAML tag {node.tag!r} on a mapping")
        self.enter(node)
        data: dict[str, Any] = {}
        loc = self.new_loc(at, node)
        first_seen: dict[str, yaml.Node] = {}
        merged: list[tuple[dict[str, Any], LocNode]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.extend(self.merge_sources(value_node, depth))
                continue
            key = self.key(key_node)
            if key in first_seen:
                first = first_seen[key].start_mark
                raise self.error(
                    key_node,
                    f"duplicate key {key!r} in this mapping (first defined at line {first.line + 1})",
                    hint="remove one of the two entries; YAML does not merge repeated keys",
                )
            first_seen[key] = key_node
            value, child = self.build(value_node, key_node.start_mark, depth + 1)
            data[key] = value
            loc.children[key] = child
        # ``<<`` keys never override explicit ones; among several merged maps the first one wins.
        for source, source_loc in merged:
            for key, value in source.items():
                if key not in data:
                    data[key] = value
                    loc.children[key] = source_loc.children[key]
        self.active.discard(id(node))
        return data, loc

    def merge_sources(self, node: yaml.Node, depth: int) -> list[tuple[dict[str, Any], LocNode]]:
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out = []
        for item in nodes:
            if not isinstance(item, yaml.MappingNode):
                raise self.error(item, "the '<<' merge key takes a mapping or a list of mappings")
            value, loc = self.mapping(item, item.start_mark, depth + 1)
            out.append((value, loc))
        return out

    def retag(self, node: yaml.Node) -> yaml.Node:
        """The node under ``!override`` with the tag it would have had without it."""
        if isinstance(node, yaml.MappingNode):
            return yaml.MappingNode(_TAG + "map", node.value, node.start_mark, node.end_mark, node.flow_style)
        if isinstance(node, yaml.SequenceNode):
            return yaml.SequenceNode(_TAG + "seq", node.value, node.start_mark, node.end_mark, node.flow_style)
        style = getattr(node, "style", None)
        plain = not style  # None (pure-Python parser) or "" (libyaml) for plain scalars
        tag = self.loader.resolve(yaml.ScalarNode, node.value, (plain, not plain))
        return yaml.ScalarNode(tag, node.value, node.start_mark, node.end_mark, style)

    def key(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "a mapping key must be a plain value, not a list or mapping")
        if node.tag == _TAG + "null":
            raise self.error(node, "a mapping key cannot be empty (null)")
        return str(node.value)

    def scalar(self, node: yaml.Node) -> Any:
        tag = node.tag or ""
        if tag == _TAG + "str":
            return node.value
        if tag in (_TAG + "int", _TAG + "float", _TAG + "bool", _TAG + "null"):
            try:
                return self.loader.construct_object(node, deep=True)
            except (yaml.YAMLError, ValueError) as exc:
                raise self.error(node, f"invalid {tag.removeprefix(_TAG)} value {node.value!r}: {exc}") from None
        if tag == _TAG + "timestamp":
            return node.value
        raise self.error(
            node,
            f"unsupported YAML tag {tag!r}",
            hint="Compose files use plain YAML; the only custom tags are !reset and !override",
        )


@dataclass(slots=True)
class ParsedFile:
    """One parsed file: plain data (top level is a mapping), positions, and whether it used markers."""

    file: str
    data: dict[str, Any]
    loc: LocNode
    has_markers: bool


def parse_yaml(text: str, file: str) -> ParsedFile:
    """Parse ``text`` (the content of ``file``) into data and positions; every problem is a SpecError."""
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or "invalid YAML"
            context = f" ({exc.context})" if exc.context else ""
            raise SpecError(f"invalid YAML: {problem}{context}", location=_location(file, mark)) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {exc}", location=SourceLocation(file)) from None
        if node is None:
            raise SpecError(
                "the file is empty",
                location=SourceLocation(file),
                hint="a Compose file needs at least 'services:'",
            )
        builder = _Builder(file, loader)
        try:
            data, loc = builder.build(node, node.start_mark)
        except RecursionError:
            raise SpecError("the document nests too deeply", location=SourceLocation(file)) from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise SpecError(
            "the top level of a Compose file must be a mapping (services:, networks:, ...)",
            location=loc.value,
        )
    return ParsedFile(file, data, loc, builder.has_markers)


def read_yaml_file(path: str, display: str, *, at: SourceLocation | None = None) -> ParsedFile:
    """Read and parse ``path``; ``display`` is the name used in messages; ``at`` is who asked for it."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise SpecError(f"file {display} not found", location=at) from None
    except IsADirectoryError:
        raise SpecError(f"{display} is a directory, not a Compose file", location=at) from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{display} is not UTF-8 text: {exc.reason}", location=at) from None
    except OSError as exc:
        raise SpecError(f"cannot read {display}: {exc.strerror}", location=at) from None
    return parse_yaml(text, display)
