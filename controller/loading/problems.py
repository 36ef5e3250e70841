"""Turns pydantic validation errors into diagnostics a person can act on.

Drops union tags from locations, phrases each error type as a sentence, and adds a
"did you mean" hint to unknown keys by finding the model that owns the location.
Called by ``controller.loading.manifests``.
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from controller.core.diagnostics import Diagnostic, FieldPath, format_field_path
from controller.loading.models.base import UNION_TAGS
from controller.loading.safe_yaml import Locator

_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping (key: value)",
    "list_type": "a list",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
}


def diagnostics_from_validation(
    error: ValidationError,
    root: type[BaseModel],
    file: str,
    locator: Locator,
    prefix: FieldPath = (),
) -> list[Diagnostic]:
    out = []
    for detail in error.errors(include_url=False):
        path = prefix + tuple(p for p in detail["loc"] if not (isinstance(p, str) and p in UNION_TAGS))
        model = _model_at(root, detail["loc"])
        message, code = _sentence(detail, model)
        line, column = locator.locate(path)
        out.append(Diagnostic(file, line, column, format_field_path(path), message, code))
    return out


def _sentence(detail: ErrorDetails, model: type[BaseModel] | None) -> tuple[str, str]:
    kind, given = detail["type"], detail.get("input")
    if kind == "extra_forbidden":
        key = str(detail["loc"][-1])
        allowed = sorted(_keys(model)) if model else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = (
            f" (did you mean '{close[0]}'?)"
            if close
            else (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
        )
        return f"unknown key '{key}'{hint}", "unknown-key"
    if kind == "missing":
        return f"required key '{detail['loc'][-1]}' is missing", "missing-key"
    if kind in _TYPE_WORDS:
        return (f"expected {_TYPE_WORDS[kind]}, got {_describe(given)}", "wrong-type")
    if kind == "value_error":
        return str(detail["ctx"]["error"]), "invalid-value"
    if kind == "literal_error":
        return f"{_describe(given)} is not allowed: {detail['msg'].lower()}", "invalid-value"
    scalar = given is not None and not isinstance(given, (dict, list))
    return (f"{detail['msg']} (got {_describe(given)})" if scalar else detail["msg"]), "invalid-value"


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) < 60 else text[:57] + '...'}"


def _keys(model: type[BaseModel]) -> set[str]:
    return {info.alias or name for name, info in model.model_fields.items()}


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model whose keys are valid at ``loc[:-1]``, following fields and union tags."""
    current: Any = root
    for part in loc[:-1]:
        if isinstance(part, str) and part in UNION_TAGS:
            current = UNION_TAGS[part]
            continue
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            current = field.annotation if field else None
        elif isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        if current is None:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated; leave list[...] and unions of several models alone."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation
