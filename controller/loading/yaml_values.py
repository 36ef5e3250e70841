"""The YAML loader for manifests: libyaml's safe loader, made to build only JSON-shaped values.

Everything a manifest holds ends up in JSON (records, digests, Prefect's API), so values JSON
cannot carry are converted the way Prefect's pydantic serialisation converts them (dates and
timestamps become ISO strings, scalar keys become their JSON text) or refused with the node's
line (non-finite floats, huge integers, ``!!binary``, ``!!set``, malformed ``!!bool``/``!!int``).
Used by ``controller.loading.safe_yaml``.
"""

from __future__ import annotations

import json
import math
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
