"""Annotations and default values of a flow's signature, turned into JSON Schema and JSON.

``Names`` records what a module's imports, top-level constants and Enum classes make a name
mean; ``TypeReader`` maps an annotation's syntax tree to the schema pydantic gives Prefect 3
for that type, and a default's syntax tree to its JSON value (None when it cannot be known
without running code, as Prefect does). Nothing is imported or executed. Used by
``controller.loading.signature``.
"""

from __future__ import annotations

import ast
import datetime
import math
from dataclasses import dataclass, field
from typing import Any

_SCALARS: dict[str, dict[str, Any]] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "list": {"type": "array", "items": {}},
    "typing.List": {"type": "array", "items": {}},
    "dict": {"type": "object", "additionalProperties": True},
    "typing.Dict": {"type": "object", "additionalProperties": True},
    "typing.Any": {},
    "datetime.datetime": {"type": "string", "format": "date-time"},
    "datetime.date": {"type": "string", "format": "date"},
}
_LISTS = {"list", "typing.List"}
_DICTS = {"dict", "typing.Dict"}
_UNIONS = {"typing.Union", "typing.Optional"}
_ENUM_BASES = {"enum.Enum", "enum.IntEnum", "enum.StrEnum"}
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number"}


class Unresolved(Exception):
    """An annotation deployctl cannot turn into a schema without running code."""


@dataclass
class Names:
    aliases: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    enums: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(cls, module: ast.Module) -> Names:
        names = cls()
        for node in module.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    names.aliases[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                origin = "typing" if node.module == "typing_extensions" else node.module
                for alias in node.names:
                    names.aliases[alias.asname or alias.name] = f"{origin}.{alias.name}"
            elif isinstance(node, ast.ClassDef):
                names._enum(node)
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                try:
                    names.constants[node.targets[0].id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    continue
        return names

    def _enum(self, node: ast.ClassDef) -> None:
        if not any(self.qualified(base) in _ENUM_BASES for base in node.bases):
            return
        members: dict[str, Any] = {}
        for item in node.body:
            if (
                isinstance(item, ast.Assign)
                and len(item.targets) == 1
                and isinstance(item.targets[0], ast.Name)
            ):
                try:
                    members[item.targets[0].id] = ast.literal_eval(item.value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    return  # auto() and computed values: not knowable without running code
        self.enums[node.name] = members

    def qualified(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Constant) and node.value is None:
            return "None"
        return None


class TypeReader:
    def __init__(self, names: Names) -> None:
        self.names = names
        self.definitions: dict[str, Any] = {}

    def schema_of(self, annotation: ast.expr | None) -> tuple[dict[str, Any], bool]:
        """The schema of an annotation, and whether it was understood ({} when not)."""
        if annotation is None:
            return {}, True
        try:
            return self._schema(annotation), True
        except (Unresolved, RecursionError):
            return {}, False

    def _schema(self, node: ast.expr) -> dict[str, Any]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self._schema(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                raise Unresolved(node.value) from None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._union([node.left, node.right])
        if isinstance(node, ast.Subscript):
            return self._generic(self.names.qualified(node.value), node.slice)
        name = self.names.qualified(node)
        if name in _SCALARS:
            return dict(_SCALARS[name])
        if name in self.names.enums:
            return self._enum_ref(name)
        raise Unresolved(name)

    def _generic(self, name: str | None, index: ast.expr) -> dict[str, Any]:
        args = list(index.elts) if isinstance(index, ast.Tuple) else [index]
        if name in _LISTS and len(args) == 1:
            return {"type": "array", "items": self._schema(args[0])}
        if name in _DICTS and len(args) == 2:
            return {"type": "object", "additionalProperties": self._schema(args[1]) or True}
        if name == "typing.Optional" and len(args) == 1:
            return self._union([args[0], ast.Constant(None)])
        if name == "typing.Union":
            return self._union(args)
        if name == "typing.Annotated":
            return self._schema(args[0])
        if name == "typing.Literal":
            return self._literal(args)
        raise Unresolved(name)

    def _union(self, members: list[ast.expr]) -> dict[str, Any]:
        flat: list[dict[str, Any]] = []
        for member in members:
            schema = self._schema(member)
            flat.extend(schema["anyOf"] if list(schema) == ["anyOf"] else [schema])
        if {} in flat:
            return {}
        return {"anyOf": flat}

    def _literal(self, args: list[ast.expr]) -> dict[str, Any]:
        values = [a.value for a in args if isinstance(a, ast.Constant)]
        if len(values) != len(args):
            raise Unresolved("Literal")
        kinds = {_JSON_TYPES.get(type(v)) for v in values}
        typed = {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}
        if len(values) == 1:
            return {"const": values[0], **typed}
        return {"enum": values, **typed}

    def _enum_ref(self, name: str) -> dict[str, Any]:
        values = list(self.names.enums[name].values())
        kinds = {_JSON_TYPES.get(type(v)) for v in values}
        typed = {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}
        self.definitions[name] = {"enum": values, "title": name, **typed}
        return {"$ref": f"#/definitions/{name}"}

    def value_of(self, node: ast.expr) -> Any:
        """A default's JSON value; None when only running the code could tell (as in Prefect)."""
        try:
            return _json(ast.literal_eval(node))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        if isinstance(node, ast.Name) and node.id in self.names.constants:
            return _json(self.names.constants[node.id])
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            members = self.names.enums.get(self.names.qualified(node.value) or "", {})
            return _json(members.get(node.attr))
        if isinstance(node, ast.Call):
            return self._call_value(node)
        return None

    def _call_value(self, node: ast.Call) -> Any:
        name = self.names.qualified(node.func)
        if name in ("list", "set", "tuple", "frozenset", "dict") and not node.args and not node.keywords:
            return {} if name == "dict" else []
        if name in ("datetime.date", "datetime.datetime") and not node.keywords:
            try:
                parts = [ast.literal_eval(a) for a in node.args]
                made = (datetime.date if name == "datetime.date" else datetime.datetime)(*parts)
            except (ValueError, TypeError, SyntaxError, OverflowError):
                return None
            return made.isoformat()
        return None


def _json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_json(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return None
