"""The YAML loader for manifests: libyaml's safe loader, made to build only JSON-shaped values.

Everything a manifest holds ends up in JSON (records, digests, Prefect's API), so values JSON
cannot carry are converted the way Prefect's pydantic serialisation converts them (dates and
timestamps become ISO strings, scalar keys become their JSON text) or refused with the node's
line (non-finite floats, huge integers, ``!!binary``, ``!!set``, malformed ``!!bool``/``!!int``).
Used by ``controller.loading.safe_yaml``, which builds a document without anchors through
``build_plain`` (the same values as ``ManifestLoader``'s constructors, built in one tight walk
that also bounds depth and size) and a document with anchors through ``yaml.load``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import yaml
from pydantic_core import to_jsonable_python

MAX_INTEGER_DIGITS = 4000
_MAX_INTEGER = 10**MAX_INTEGER_DIGITS


class ValueRefused(yaml.MarkedYAMLError):
    """A scalar that parses as YAML but has no JSON form; carries the node's position."""

    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(problem=message, problem_mark=node.start_mark)


def _shown(node: yaml.Node) -> str:
    text = str(node.value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


class ManifestLoader(yaml.CSafeLoader):
    """``CSafeLoader`` whose constructors return only str, int, float, bool, None, list, dict."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        digits = len(str(node.value))
        if digits > MAX_INTEGER_DIGITS:
            raise ValueRefused(
                node, f"integer of {digits:,} digits is too large: write it as a quoted string"
            )
        try:
            value: int = super().construct_yaml_int(node)
        except (ValueError, IndexError):
            raise ValueRefused(node, f"{_shown(node)} is not an integer") from None
        if abs(value) >= _MAX_INTEGER:
            raise ValueRefused(node, "integer is too large: write it as a quoted string")
        return value

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        try:
            value: float = super().construct_yaml_float(node)
        except (ValueError, IndexError):
            raise ValueRefused(node, f"{_shown(node)} is not a number") from None
        if not math.isfinite(value):
            raise ValueRefused(
                node, f"{_shown(node)} is not a finite number, which JSON (and Prefect's API) cannot carry"
            )
        return value

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> bool:
        value = str(self.construct_scalar(node)).lower()
        if value not in self.bool_values:
            raise ValueRefused(node, f"{_shown(node)} is not a boolean: use true or false")
        return bool(self.bool_values[value])

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """An ISO string, as Prefect's JSON encoding sends a date; a date that does not exist
        (2024-02-30) stays the text it is."""
        try:
            return to_jsonable_python(super().construct_yaml_timestamp(node))
        except (ValueError, AttributeError, TypeError, OverflowError):
            return str(node.value)

    def construct_unsupported(self, node: yaml.Node) -> Any:
        tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
        raise ValueRefused(node, f"'{tag}' values have no JSON form: write a list or a string instead")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        if all(type(key) is str for key in mapping):
            return mapping
        # JSON object keys are strings; json.dumps would turn 1, true, null into "1", "true", "null".
        return {key if type(key) is str else json.dumps(key): value for key, value in mapping.items()}


for _tag, _method in (
    ("int", ManifestLoader.construct_yaml_int),
    ("float", ManifestLoader.construct_yaml_float),
    ("bool", ManifestLoader.construct_yaml_bool),
    ("timestamp", ManifestLoader.construct_yaml_timestamp),
    ("binary", ManifestLoader.construct_unsupported),
    ("set", ManifestLoader.construct_unsupported),
):
    ManifestLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _method)


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_NULL = "tag:yaml.org,2002:null"
_SCALARS = {f"tag:yaml.org,2002:{t}" for t in ("bool", "int", "float", "timestamp", "binary")}
"""Scalar tags whose constructors are plain functions of one node (refusals included)."""


class TooDeep(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.mark = node.start_mark


class TooLarge(Exception):
    pass


class NotPlain(Exception):
    """A node the one walk does not build (a merge or ``=`` key, a tag on a collection, a tag
    that does not fit its node): the caller loads the document the usual way."""


def build_plain(loader: ManifestLoader, root: yaml.Node | None, max_depth: int, max_nodes: int) -> Any:
    """The value ``loader`` would construct from ``root``, a document composed without anchors.

    Plain maps, sequences, strings and nulls are built directly, and the scalars of
    ``_SCALARS`` by the loader's own constructors, so the values and refusals are
    ``ManifestLoader``'s; anything else raises ``NotPlain``. Raises ``TooDeep`` past
    ``max_depth`` nested collections and ``TooLarge`` past ``max_nodes`` nodes (keys included).
    """
    constructors: dict[str | None, Callable[[Any, yaml.Node], Any]] = loader.yaml_constructors
    count = 0

    def build(node: yaml.Node, depth: int) -> Any:
        nonlocal count
        count += 1
        if count > max_nodes:
            raise TooLarge
        kind, tag = type(node), node.tag
        if kind is yaml.ScalarNode:
            if tag == _STR:
                return node.value
            if tag == _NULL:
                return None
            if tag in _SCALARS:
                return constructors[tag](loader, node)
        elif depth >= max_depth:
            raise TooDeep(node)
        elif kind is yaml.MappingNode and tag == _MAP:
            mapping = {}
            for key_node, value_node in node.value:
                if type(key_node) is not yaml.ScalarNode or key_node.tag not in _PLAIN_KEYS:
                    raise NotPlain
                mapping[build(key_node, depth + 1)] = build(value_node, depth + 1)
            if all(type(key) is str for key in mapping):
                return mapping
            # as ManifestLoader.construct_mapping: keys equal in Python (1, true) merge first
            return {key if type(key) is str else json.dumps(key): value for key, value in mapping.items()}
        elif kind is yaml.SequenceNode and tag == _SEQ:
            return [build(item, depth + 1) for item in node.value]
        raise NotPlain

    return None if root is None else build(root, 0)


_PLAIN_KEYS = {_STR, _NULL, *_SCALARS}
