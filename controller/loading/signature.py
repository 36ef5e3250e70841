"""A flow's parameter schema and description, read from its source without importing it.

``read_signature`` finds the function in the module's syntax tree and builds the JSON
Schema Prefect 3 builds from the signature (``title``, ``position``, defaults, docstring
descriptions, ``required``, enums under ``definitions``) for the common annotations: str, int,
float, bool, list[...], dict[...], Optional / ``| None`` / Union, Literal, Enum classes of the
module, datetime and date. An annotation it cannot resolve gives an unconstrained property
and its parameter is named in ``unresolved``. Called by ``controller.loading.loader`` for
prefect.yaml deployments.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

from controller.loading.signature_types import Names, TypeReader

_SKIPPED = ("self", "cls")


@dataclass(frozen=True)
class FlowSignature:
    docstring: str | None
    schema: dict[str, Any]
    unresolved: tuple[str, ...] = field(default=())


def flow_signature(source: bytes, function: str) -> FlowSignature | None:
    """The signature of ``function`` in ``source``; None when the source does not parse."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    found = find_function(module, function)
    return read_signature(module, found) if found is not None else None


def find_function(module: ast.Module, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return None


def read_signature(module: ast.Module, function: ast.FunctionDef | ast.AsyncFunctionDef) -> FlowSignature:
    docstring = ast.get_docstring(function, clean=True)
    reader = TypeReader(Names.of(module))
    descriptions = parameter_descriptions(docstring)
    properties: dict[str, Any] = {}
    required: list[str] = []
    unresolved: list[str] = []
    for position, (arg, default, kind) in enumerate(_parameters(function.args)):
        if arg.arg in _SKIPPED:
            continue
        prop, resolved = reader.schema_of(arg.annotation)
        if not resolved:
            unresolved.append(arg.arg)
        if kind == "*":
            prop = {"type": "array", "items": prop}
        elif kind == "**":
            prop = {"type": "object", "additionalProperties": prop or True}
        prop = {**prop, "title": arg.arg, "position": position}
        if kind:
            prop["default"] = [] if kind == "*" else {}
        elif default is not None:
            prop["default"] = reader.value_of(default)
        else:
            required.append(arg.arg)
        if arg.arg in descriptions:
            prop["description"] = descriptions[arg.arg]
        properties[arg.arg] = prop
    schema: dict[str, Any] = {"title": "Parameters", "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["definitions"] = reader.definitions
    return FlowSignature(docstring, schema, tuple(unresolved))


def _parameters(args: ast.arguments) -> list[tuple[ast.arg, ast.expr | None, str]]:
    """(argument, default expression or None, "" / "*" / "**") in signature order."""
    positional = [*args.posonlyargs, *args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    out = [(a, d, "") for a, d in zip(positional, [*defaults, *args.defaults], strict=True)]
    out += [(a, d, "") for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    if args.vararg:
        out.append((args.vararg, None, "*"))
    if args.kwarg:
        out.append((args.kwarg, None, "**"))
    return out


_ARGS_HEADINGS = ("args:", "arguments:", "parameters:", "params:")


def parameter_descriptions(docstring: str | None) -> dict[str, str]:
    """Parameter name -> description from a Google-style ``Args:`` section."""
    if not docstring:
        return {}
    lines = inspect.cleandoc(docstring).splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip().lower() in _ARGS_HEADINGS), None)
    if start is None:
        return {}
    found: dict[str, list[str]] = {}
    indent, current = None, None
    for line in lines[start + 1 :]:
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        if depth == 0:
            break
        indent = depth if indent is None else indent
        if depth == indent and ":" in line:
            head, _, text = line.strip().partition(":")
            current = head.split("(")[0].strip().lstrip("*")
            found[current] = [text.strip()] if text.strip() else []
        elif depth > indent and current is not None:
            found[current].append(line.strip())
    return {name: "\n".join(parts) for name, parts in found.items()}
