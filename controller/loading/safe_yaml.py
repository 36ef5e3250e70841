"""Safe, fast YAML parsing of untrusted manifest bytes, and locations of fields in them.

The hot path is one call to libyaml through pyyaml's ``CSafeLoader``; everything around
it bounds what a hostile file can cost (size, nesting, alias expansion) and turns each
failure into a ``YamlProblem`` with a line. Node positions are composed lazily, only when
a diagnostic needs one. Called by ``controller.loading.manifests``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from controller.loading.yaml_values import (
    ManifestLoader,
    NotPlain,
    TooDeep,
    TooLarge,
    ValueRefused,
    build_plain,
)

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
# libyaml's composer recurses in C and crashes the interpreter past ~30,000 levels. A
# document's depth cannot exceed its count of collection indicators, so below this many
# the C parser is safe to call directly; above it, an iterative event scan checks first.
_DIRECT_PARSE_INDICATORS = 1000


@dataclass(frozen=True)
class YamlProblem:
    line: int
    column: int
    code: str
    message: str


@dataclass(frozen=True)
class ParsedYaml:
    text: str
    data: Any


def parse_yaml(raw: bytes) -> ParsedYaml | YamlProblem:
    """Parse one manifest; return its data or the first reason it cannot be read."""
    if len(raw) > MAX_BYTES:
        return YamlProblem(
            1,
            1,
            "too-large",
            f"file is {len(raw):,} bytes; manifests are "
            f"limited to {MAX_BYTES:,} bytes (1 MiB): split it or move data out",
        )
    text = _decode(raw)
    if isinstance(text, YamlProblem):
        return text
    indicators = sum(text.count(c) for c in "[{-:?")
    if indicators > _DIRECT_PARSE_INDICATORS:
        problem = _scan_depth(text)
        if problem:
            return problem
    if "&" not in text and "<<" not in text:
        plain = _parse_plain(text)
        if plain is not None:
            return plain
    try:
        data = yaml.load(text, Loader=ManifestLoader)  # noqa: S506 - the safe C loader, JSON values only
    except yaml.YAMLError as exc:
        return _problem_from_yaml_error(exc, text)
    if indicators > MAX_DEPTH or "&" in text:
        problem = _measure(data, shared="&" in text)
        if problem and problem.code == "too-deep":
            problem = _scan_depth(text) or problem
        if problem and problem.code == "alias-bomb":
            line, column = _position(text, text.index("&"))
            problem = YamlProblem(line, column, problem.code, problem.message)
        if problem:
            return problem
    return ParsedYaml(text, data)


def _parse_plain(text: str) -> ParsedYaml | YamlProblem | None:
    """A document without anchors or merge keys: every node is built once, so depth and size
    are bounded while building, with no second walk. None: a node the walk does not build."""
    loader = ManifestLoader(text)
    try:
        data = build_plain(loader, loader.get_single_node(), MAX_DEPTH, MAX_NODES)
    except yaml.YAMLError as exc:
        return _problem_from_yaml_error(exc, text)
    except TooDeep as deep:
        return _too_deep(deep.mark.line + 1, deep.mark.column + 1)
    except TooLarge:
        return YamlProblem(
            1, 1, "too-large", f"document holds more than {MAX_NODES:,} values: split it or move data out"
        )
    except NotPlain:
        return None
    finally:
        loader.dispose()
    return ParsedYaml(text, data)


def _position(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _decode(raw: bytes) -> str | YamlProblem:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        return YamlProblem(
            line,
            column,
            "not-utf8",
            f"byte 0x{raw[exc.start]:02x} is not valid UTF-8: save the file as UTF-8",
        )
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        return YamlProblem(line, 1, "not-utf8", "file contains NUL bytes: it is binary, not a YAML manifest")
    return text.removeprefix("\ufeff")


def _scan_depth(text: str) -> YamlProblem | None:
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.CSafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    return _too_deep(mark.line + 1, mark.column + 1) if mark else _too_deep(1, 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        return _problem_from_yaml_error(exc, text)
    return None


def _too_deep(line: int, column: int) -> YamlProblem:
    return YamlProblem(line, column, "too-deep", f"document nests deeper than {MAX_DEPTH} levels: flatten it")


def _too_many_nodes() -> YamlProblem:
    return YamlProblem(
        1,
        1,
        "alias-bomb",
        f"aliases expand this document past {MAX_NODES:,} nodes: write the data out once "
        "instead of repeating anchors",
    )


class _Refused(Exception):
    def __init__(self, problem: YamlProblem) -> None:
        self.problem = problem


def _measure(data: Any, shared: bool) -> YamlProblem | None:
    """Refuse documents too deep, or whose aliases expand past ``MAX_NODES`` nodes.

    Aliases are shared references after loading, so expansion is counted, not performed:
    each distinct container's expanded size is memoised by identity.
    """
    memo: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        if depth > MAX_DEPTH:
            raise _Refused(_too_deep(1, 1))
        if shared and id(node) in memo:
            return memo[id(node)]
        children = (*node.keys(), *node.values()) if isinstance(node, dict) else node
        total = 1 + sum(size(child, depth + 1) for child in children)
        if total > MAX_NODES:
            raise _Refused(_too_many_nodes())
        if shared:
            memo[id(node)] = total
        return total

    try:
        size(data, 1)
    except _Refused as refused:
        return refused.problem
    return None


def _problem_from_yaml_error(exc: yaml.YAMLError, text: str) -> YamlProblem:
    if isinstance(exc, yaml.reader.ReaderError):
        line, column = _position(text, min(max(exc.position, 0), len(text)))
        return YamlProblem(
            line,
            column,
            "yaml-syntax",
            f"invalid YAML: character {exc.character!r} is not allowed in YAML: remove it",
        )
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, ValueRefused):
        return YamlProblem(line, column, "invalid-value", problem)
    if isinstance(exc, yaml.composer.ComposerError) and "single document" in str(exc.context):
        return YamlProblem(
            line,
            column,
            "multi-document",
            "file holds more than one YAML document ('---'): put one manifest per file",
        )
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
        tag = problem.split("tag", 1)[1].strip(" '").replace("tag:yaml.org,2002:", "!!")
        return YamlProblem(
            line,
            column,
            "unsafe-tag",
            f"tag '{tag}' is not allowed: manifests "
            "are plain data and nothing in them is executed; remove the tag",
        )
    if "nesting depth" in problem:  # libyaml >= 0.2.6 has its own limit of 1000 levels
        return _too_deep(line, column)
    context = getattr(exc, "context", None)
    detail = f"{context}: {problem}" if context and context not in problem else problem
    return YamlProblem(line, column, "yaml-syntax", f"invalid YAML: {detail}")


class Locator:
    """Finds the line and column of a field path in a document, composing it on demand."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._root: yaml.Node | None = None
        self._composed = False

    def locate(self, path: tuple[str | int, ...]) -> tuple[int, int]:
        """Position of the deepest node on ``path`` that exists (1-based; the first line if none)."""
        mark, _ = self._walk(path)
        if mark is None:
            root = self._document()
            mark = root.start_mark if root is not None else None
        return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)

    def has(self, path: tuple[str | int, ...]) -> bool:
        """Whether every node on ``path`` exists."""
        return self._walk(path)[1] == len(path)

    def _walk(self, path: tuple[str | int, ...]) -> tuple[yaml.Mark | None, int]:
        """The mark of the deepest node on ``path`` that exists, and how many parts were found."""
        node, mark, depth = self._document(), None, 0
        for part in path:
            found = _child(node, part) if node is not None else None
            if found is None:
                break
            (mark, node), depth = found, depth + 1
        return mark, depth

    def _document(self) -> yaml.Node | None:
        if not self._composed:
            self._composed = True
            try:
                self._root = yaml.compose(self._text, Loader=yaml.CSafeLoader)
            except yaml.YAMLError:
                self._root = None
        return self._root


def field_at(text: str, line: int, column: int) -> tuple[str | int, ...]:
    """The field path of the value that starts at ``line:column`` (1-based), () if none does."""
    try:
        root = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        return ()
    stack: list[tuple[yaml.Node | None, tuple[str | int, ...]]] = [(root, ())]
    visited: set[int] = set()  # aliases share nodes (and may form cycles): walk each node once
    while stack:
        node, path = stack.pop()
        if node is None or id(node) in visited:
            continue
        visited.add(id(node))
        if path and (node.start_mark.line + 1, node.start_mark.column + 1) == (line, column):
            return path
        if isinstance(node, yaml.MappingNode):
            stack += [(v, (*path, str(k.value))) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode):
            stack += [(item, (*path, i)) for i, item in enumerate(node.value)]
    return ()


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Mark, yaml.Node] | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        if 0 <= part < len(node.value):
            item = node.value[part]
            return item.start_mark, item
        return None
    if not isinstance(node, yaml.MappingNode):
        return None
    merged: list[yaml.Node] = []
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == str(part):
            return key.start_mark, value
        if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:merge":
            merged.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
    for source in merged:
        found = _child(source, part)
        if found is not None:
            return found
    return None
