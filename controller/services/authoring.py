"""``deployment build`` as a use case: Prefect 2's build options in, a deployment.yaml out.

``build_fields`` checks every option first (``controller.services.build_options``: one clear
error each, nothing written) and makes the file's fields and the set of fields the options name;
``build_deployment`` writes the file (only the named fields of an existing one change).
``preview_file`` is ``--apply``: what the file, as it is on disk, would change in the registry,
computed and shown, never applied. Called by ``controller.cli.authoring`` and
``controller.deployment``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import UsageError
from controller.loading.authoring import (
    FLOW_FIELDS,
    Written,
    empty_fields,
    flow_fields,
    read_flow,
    relative_entrypoint,
    split_entrypoint,
    write_deployment,
)
from controller.loading.infra_blocks import IMAGE_FLOW_PATH
from controller.services.build_options import BuildRequest, named_fields

if TYPE_CHECKING:
    from controller.ports import Registry


@dataclass(frozen=True)
class Built:
    output: Path
    fields: dict[str, Any]
    named: frozenset[str]
    unresolved: tuple[str, ...] = ()


def build_fields(request: BuildRequest, cwd: Path) -> Built:
    """Every option checked, then the file's fields. Raises ``UsageError`` (one line) first."""
    if not request.name:
        raise UsageError("a deployment name is required: -n NAME")
    flow_path, function = split_entrypoint(request.entrypoint)
    output = cwd / (request.output or f"{function}-deployment.yaml")
    if output.suffix and output.suffix != ".yaml":
        raise UsageError(f"--output '{request.output}' must be a .yaml file")
    named = named_fields(request)
    return assemble(request.name, cwd / flow_path, function, output.with_suffix(".yaml"), named)


def assemble(name: str, flow_file: Path, function: str, output: Path, named: Mapping[str, Any]) -> Built:
    """The fields of ``name``'s file at ``output``: Prefect 2's defaults, what the flow says of
    itself, then the ``named`` fields (which are the only ones an existing file changes)."""
    source = read_flow(flow_file, function)
    flow = flow_fields(source, function)
    named = dict(named)
    fields = {**empty_fields(name), "description": flow.description, "version": flow.version}
    fields.update(
        flow_name=flow.flow_name,
        entrypoint=relative_entrypoint(flow_file, function, output),
        parameter_openapi_schema=flow.schema,
        timestamp=datetime.now(UTC).isoformat(),
    )
    if _docker_based(named.get("infrastructure")) and "path" not in named:
        named["path"] = IMAGE_FLOW_PATH
    fields.update(named)
    return Built(output, fields, frozenset({"name", *FLOW_FIELDS, *named}), flow.unresolved)


def build_deployment(request: BuildRequest, cwd: Path) -> tuple[Built, Written]:
    built = build_fields(request, cwd)
    return built, write_deployment(built.output, built.fields, built.named)


def _docker_based(block: Any) -> bool:
    return isinstance(block, Mapping) and "image" in block


# Fields of a record that a file on disk cannot know (git gives them at sync) or that name
# where it was read: left out of the preview's comparison.
_KNOWN_AT_SYNC = ("version", "code_digest", "source", "code_dir")


def preview_file(registry: Registry | None, path: Path) -> list[str]:
    """What the deployments ``path`` declares (as the file is now) would change in the registry:
    ``+ create``, ``~ update`` with each field, or ``unchanged``; the file's problems when it
    has any. Nothing is written. ``registry`` None: there is none yet, so everything is new."""
    from controller.core.diagnostics import Severity
    from controller.core.diff import diff_records
    from controller.core.records import to_record
    from controller.loading.loader import load_manifests
    from controller.loading.tree import DirectoryTree

    folder = path.resolve().parent
    result = load_manifests(DirectoryTree(folder), only=frozenset({path.name}))
    lines = [str(d) for d in result.diagnostics if d.severity is Severity.ERROR]
    for identity, spec in sorted(result.specs.items()):
        found = registry.get_deployment(identity) if registry is not None else None
        if found is None:
            lines.append(f"+ create {identity}")
            continue
        new = _comparable(to_record(spec))
        old = {k: v for k, v in found.record.items() if k in new}  # not what only the registry keeps
        changes = diff_records(old, new)
        owner = f" (owned by {found.owner})" if found.owner else " (not made by deployctl)"
        lines.append(f"~ update {identity}{owner}" if changes else f"  unchanged {identity}")
        lines += [f"    {item}" for item in changes]
    return lines


def _comparable(record: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _KNOWN_AT_SYNC}
