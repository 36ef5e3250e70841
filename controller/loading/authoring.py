"""A Prefect 2 ``deployment.yaml``, written as ``prefect deployment build`` 2.20.27 writes it.

``flow_fields`` reads what Prefect takes from the flow itself — its ``@flow`` name, docstring,
parameter schema, and the source hash Prefect uses as a version — as text, never importing it.
``write_deployment`` writes a new file in Prefect's layout (header, editable fields, "DO NOT
EDIT BELOW THIS LINE", the rest), or changes only the named fields of an existing one, keeping
its comments, order, quoting and blank lines. Called by ``controller.services.authoring`` and
the Python ``controller.Deployment``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import UsageError
from controller.loading.entrypoints import flow_info
from controller.loading.infra_blocks import default_block
from controller.loading.yaml_roundtrip import RoundTripError, load_mapping, render_fields, update_fields

HEADER = "A complete description of a Prefect Deployment for flow"
WORK_QUEUE_COMMENT = "# The work queue that will handle this deployment's runs\n"
DO_NOT_EDIT = "\n###\n### DO NOT EDIT BELOW THIS LINE\n###\n"
EDITABLE = (
    "name", "description", "version", "work_queue_name", "work_pool_name", "tags", "parameters",
    "schedule", "schedules", "is_schedule_active", "infra_overrides", "infrastructure",
)  # fmt: skip
REST = (
    "flow_name", "manifest_path", "storage", "path", "entrypoint", "parameter_openapi_schema",
    "timestamp", "triggers", "enforce_parameter_schema",
)  # fmt: skip
FLOW_FIELDS = ("flow_name", "entrypoint", "parameter_openapi_schema")
"""What build always refreshes from the flow: where it is, what it is called, its signature."""


def empty_fields(name: str) -> dict[str, Any]:
    """Every field of a new file, with the values Prefect 2 writes when no option names them."""
    return {
        "name": name,
        "description": None,
        "version": None,
        "work_queue_name": "default",
        "work_pool_name": None,
        "tags": [],
        "parameters": {},
        "schedule": None,
        "schedules": [],
        "is_schedule_active": None,
        "infra_overrides": {},
        "infrastructure": default_block("process"),
        "flow_name": None,
        "manifest_path": None,
        "storage": None,
        "path": None,
        "entrypoint": None,
        "parameter_openapi_schema": {"title": "Parameters", "type": "object", "properties": {}},
        "timestamp": None,
        "triggers": [],
        "enforce_parameter_schema": None,
    }


@dataclass(frozen=True)
class FlowFields:
    flow_name: str
    description: str | None
    version: str
    schema: dict[str, Any]
    unresolved: tuple[str, ...]


def flow_fields(source: bytes, function: str) -> FlowFields:
    """What Prefect 2 takes from the flow: ``@flow(name=)``, its description (else docstring),
    the md5 of its file as the version, and the parameter schema in Prefect 2's shape."""
    info = flow_info(source, function)
    signature = info.signature
    schema = prefect2_schema(signature.schema if signature else {"properties": {}})
    unresolved = signature.unresolved if signature else ()
    return FlowFields(info.name, info.description, hashlib.md5(source).hexdigest(), schema, unresolved)


def prefect2_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Prefect 2's layout of a parameter schema: each property's keys sorted, ``required`` and
    ``definitions`` written as null when there are none."""
    properties = {name: _sorted(prop) for name, prop in schema.get("properties", {}).items()}
    return {
        "title": "Parameters",
        "type": "object",
        "properties": properties,
        "required": list(schema["required"]) if schema.get("required") else None,
        "definitions": {k: _sorted(v) for k, v in schema["definitions"].items()}
        if schema.get("definitions")
        else None,
    }


def _sorted(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {k: _sorted(node[k]) for k in sorted(node)}
    if isinstance(node, list):
        return [_sorted(v) for v in node]
    return node


def read_flow(flow_file: Path, function: str) -> bytes:
    """The flow's source, after checking that the file exists and defines ``function``."""
    from controller.loading.entrypoints import defines_function

    shown = os.path.relpath(flow_file)
    if not flow_file.is_file():
        raise UsageError(f"entrypoint file '{shown}' does not exist: give PATH/TO/FILE.py:FUNCTION")
    source = flow_file.read_bytes()
    if not defines_function(source, function):
        raise UsageError(f"'{shown}' defines no top-level function '{function}'")
    return source


def split_entrypoint(entrypoint: str) -> tuple[str, str]:
    path, sep, function = entrypoint.rpartition(":")
    if not sep or not path or not function.isidentifier():
        raise UsageError(
            f"entrypoint '{entrypoint}' must look like path/to/file.py:function (the flow's function)"
        )
    return path, function


def relative_entrypoint(flow_file: Path, function: str, output: Path) -> str:
    """The entrypoint as deployctl resolves it: relative to the output file's folder, which must
    hold the flow (the deployment's code is that folder)."""
    folder = output.resolve().parent
    try:
        relative = flow_file.resolve().relative_to(folder)
    except ValueError:
        raise UsageError(
            f"the flow '{os.path.relpath(flow_file)}' is not inside '{os.path.relpath(folder)}', the folder "
            f"of '{os.path.relpath(output)}': write the deployment file in the flow's folder or one above it"
        ) from None
    return f"{relative.as_posix()}:{function}"


@dataclass(frozen=True)
class Written:
    path: Path
    created: bool
    changed: tuple[str, ...]


def document_text(fields: Mapping[str, Any]) -> str:
    """A whole new file in Prefect 2's layout."""
    editable = [k for k in EDITABLE if k != "infrastructure" or not _saved(fields.get("infrastructure"))]
    rest = [k for k in REST if k in fields or k == "flow_name"]
    if _saved(fields.get("infrastructure")):
        rest.insert(rest.index("storage"), "infrastructure")
    header = f"###\n### {HEADER} {fields['flow_name']!r}\n###\n"
    before_queue = [k for k in editable[: editable.index("work_queue_name")]]
    after_queue = editable[editable.index("work_queue_name") :]
    return render_fields(
        [
            (header, {k: fields[k] for k in before_queue}),
            (WORK_QUEUE_COMMENT, {k: fields[k] for k in after_queue}),
            (DO_NOT_EDIT, {k: fields.get(k) for k in rest}),
        ]
    )


def _saved(block: Any) -> bool:
    return isinstance(block, Mapping) and bool(block.get("_block_document_name"))


def planned_text(path: Path, fields: Mapping[str, Any], named: Collection[str]) -> tuple[str, bool]:
    """The text to write at ``path`` and whether it is a new file. An existing file keeps
    everything but the ``named`` fields; one declaring another deployment is refused."""
    _refuse_declared_beside(path, fields)
    if not path.exists():
        return document_text(fields), True
    try:
        text = path.read_text(encoding="utf-8")
        existing = load_mapping(text)
    except (OSError, UnicodeDecodeError, RoundTripError) as exc:
        shown = os.path.relpath(path)
        raise UsageError(
            f"{shown}: cannot be edited in place ({exc}); fix it or write another file (-o)"
        ) from None
    _refuse_other_deployment(path, existing, fields)
    changes = {k: fields[k] for k in EDITABLE + REST if k in named}
    order = {k: prev for prev, k in zip(EDITABLE + REST, (EDITABLE + REST)[1:], strict=False)}
    return update_fields(text, changes, order), False


def _refuse_other_deployment(path: Path, existing: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    shown = os.path.relpath(path)
    theirs = (existing.get("flow_name"), existing.get("name"))
    ours = (fields["flow_name"], fields["name"])
    if theirs != ours:
        raise UsageError(
            f"{shown}: already declares the deployment {theirs[0]}/{theirs[1]}, not {ours[0]}/{ours[1]}: "
            "choose another file with -o, or remove it first"
        )


def _refuse_declared_beside(path: Path, fields: Mapping[str, Any]) -> None:
    """Another deployment file in the same folder declaring this deployment: two declarations
    of one identity refuse the whole commit at sync, so build refuses to make the second."""
    identity = (fields["flow_name"], fields["name"])
    for other in sorted(path.parent.glob("*.yaml")) if path.parent.is_dir() else ():
        if other.name == path.name or not (
            other.name == "deployment.yaml" or other.name.endswith("-deployment.yaml")
        ):
            continue
        try:
            declared = load_mapping(other.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, RoundTripError):
            continue  # not ours to judge here: validate and sync report it at its line
        if (declared.get("flow_name"), declared.get("name")) == identity:
            shown = os.path.relpath(other)
            raise UsageError(
                f"{identity[0]}/{identity[1]} is already declared in {shown}: build with -o {shown} to "
                "change it there, or give this deployment another name (-n)"
            )


def write_deployment(path: Path, fields: Mapping[str, Any], named: Collection[str]) -> Written:
    """Write (or update in place) the file; nothing is written when a check fails."""
    text, created = planned_text(path, fields, named)
    before = None if created else path.read_text(encoding="utf-8")
    if text != before:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    changed = tuple(named) if created else _changed_fields(before or "", text)
    return Written(path, created, changed)


def _changed_fields(before: str, after: str) -> tuple[str, ...]:
    old, new = load_mapping(before), load_mapping(after)
    return tuple(k for k in new if old.get(k) != new.get(k))
