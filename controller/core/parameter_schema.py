"""A deployment's parameter schema as Prefect 3's own client sends it: ``normalise_parameter_schema``.

Prefect 2's ``prefect deployment build`` writes ``required: null`` and ``definitions: null``;
Prefect 3's server checks an enforced schema against the Draft 2020-12 meta-schema, which
refuses both (422), and its run-time check reads ``definitions``/``required`` as a mapping and
a list. Prefect 3's ``ParameterSchema`` leaves unset fields out, drops an empty ``required``
and names shared models under ``definitions`` with ``#/definitions/…`` references (pydantic's
``$defs`` copied there). Pure; called by the Prefect translation, the loader's schema check and
the embedded runner's parameter check, so all three read one schema the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
# Keywords Prefect 2 writes as null when unset; null is never a valid value for any of them.
UNSET_WHEN_NULL = ("title", "description", "type", "properties", "required", "definitions", "$defs")
# Left out when empty, as Prefect 3's client leaves them unset (an empty ``required`` also makes
# Prefect refuse runs).
UNSET_WHEN_EMPTY = ("required", "definitions", "$defs")
# Where a keyword's value is itself a schema, a list of schemas or a mapping of them; every
# other keyword (``default``, ``enum``, ``const``, ``examples``) holds data that stays as written.
ONE_SCHEMA = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
SCHEMA_LIST = ("anyOf", "allOf", "oneOf", "prefixItems")
SCHEMA_MAP = ("properties", "definitions", "$defs", "patternProperties", "dependentSchemas")
DEFS_REF, DEFINITIONS_REF = "#/$defs/", "#/definitions/"


def normalise_parameter_schema(schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """The schema Prefect 3 would send for this one; the input is left as it was.

    An empty or missing schema is ``{"type": "object", "properties": {}}`` (the server's own
    default). Null keywords are left out, an empty ``required``, ``definitions`` or ``$defs``
    too, and top-level ``$defs`` move to ``definitions`` with their references, unless
    a name is defined differently in both (``defs_conflicts`` names it; the loader refuses it).
    """
    if not schema:
        return dict(EMPTY_SCHEMA)
    out: dict[str, Any] = _without_nulls(dict(schema))
    defs = out.get("$defs")
    if isinstance(defs, dict) and not defs_conflicts(out):
        out.pop("$defs")
        existing = out.get("definitions")
        out["definitions"] = {**(existing if isinstance(existing, dict) else {}), **defs}
        out = _renamed_refs(out)
    return out


def defs_conflicts(schema: Mapping[str, Any]) -> list[str]:
    """Names defined differently under ``$defs`` and ``definitions`` (never merged silently)."""
    defs, definitions = schema.get("$defs"), schema.get("definitions")
    if not isinstance(defs, dict) or not isinstance(definitions, dict):
        return []
    return sorted(name for name in defs.keys() & definitions.keys() if defs[name] != definitions[name])


def local_refs(schema: Any) -> list[str]:
    """Every ``$ref`` of the schema that points into the schema itself (``#/…``), in order."""
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    own = [ref] if isinstance(ref, str) and ref.startswith("#") else []
    return own + [r for child in _subschemas(schema) for r in local_refs(child)]


def resolves(schema: Mapping[str, Any], ref: str) -> bool:
    """Whether a local JSON pointer (``#/definitions/Model``) names a part of the schema."""
    node: Any = schema
    for raw in ref.removeprefix("#").split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _without_nulls(node: Any) -> Any:
    """A copy of a (sub)schema without null structural keywords or empty ``required``/definitions."""
    if not isinstance(node, dict):
        return node
    kept = {
        k: v
        for k, v in node.items()
        if not (v is None and k in UNSET_WHEN_NULL) and not (k in UNSET_WHEN_EMPTY and v in ([], {}))
    }
    return _with_subschemas(kept, _without_nulls)


def _renamed_refs(node: Any) -> Any:
    """``#/$defs/X`` references, wherever a schema may hold one, as ``#/definitions/X``."""
    if not isinstance(node, dict):
        return node
    out = _with_subschemas(node, _renamed_refs)
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(DEFS_REF):
        out["$ref"] = DEFINITIONS_REF + ref.removeprefix(DEFS_REF)
    return out


def _with_subschemas(node: dict[str, Any], change: Callable[[Any], Any]) -> dict[str, Any]:
    """A copy of ``node`` with ``change`` applied to each of its direct subschemas."""
    out = dict(node)
    for key, value in node.items():
        if key in ONE_SCHEMA:
            out[key] = change(value)
        elif key in SCHEMA_LIST and isinstance(value, list):
            out[key] = [change(v) for v in value]
        elif key in SCHEMA_MAP and isinstance(value, dict):
            out[key] = {name: change(v) for name, v in value.items()}
    return out


def _subschemas(node: dict[str, Any]) -> Iterator[Any]:
    for key, value in node.items():
        if key in ONE_SCHEMA:
            yield value
        elif key in SCHEMA_LIST and isinstance(value, list):
            yield from value
        elif key in SCHEMA_MAP and isinstance(value, dict):
            yield from value.values()
