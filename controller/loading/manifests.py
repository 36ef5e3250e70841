"""One manifest file -> deployment specs or diagnostics. Pure function of its inputs.

``parse_manifest`` reads a block-based ``deployment.yaml`` or a ``prefect.yaml`` from bytes,
validates it and normalises every deployment in it to a ``DeploymentSpec`` with the
repository defaults merged in (block-based files through ``controller.loading.block_specs``).
Its result depends only on (path, bytes, defaults, env, allowed names, variables), so callers may
cache it by git blob id. Called by ``controller.loading.loader``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.core.diagnostics import Diagnostic, Severity, format_field_path
from controller.core.spec import DeploymentSpec, SourceRef
from controller.loading.block_specs import effective_infrastructure, spec_from_block_deployment
from controller.loading.models.block_deployment import BlockDeploymentManifest
from controller.loading.models.project import ConcurrencyLimit, ProjectDeployment, ProjectManifest
from controller.loading.models.repo_settings import DeploymentDefaults, RepoSettings
from controller.loading.models.triggers import trigger_record
from controller.loading.placeholders import placeholder_diagnostics, resolve_env_placeholders
from controller.loading.problems import diagnostics_from_validation
from controller.loading.project_code import CodeFolder, CodeProblem, code_folder
from controller.loading.safe_yaml import Locator, ParsedYaml, field_at, parse_yaml
from controller.loading.spec_parts import deep_merge, enforce_schema, merged_tags, queue_name, schedule_spec
from controller.loading.unused_fields import unused_fields_warning


@dataclass(frozen=True)
class ParsedManifest:
    specs: tuple[DeploymentSpec, ...]
    diagnostics: tuple[Diagnostic, ...]


def is_project_file(path: str) -> bool:
    return posixpath.basename(path) == "prefect.yaml"


def parse_manifest(
    path: str,
    raw: bytes,
    defaults: DeploymentDefaults,
    env: Mapping[str, str],
    allowed: Collection[str] | None = None,
    variables: Mapping[str, str] | None = None,
) -> ParsedManifest:
    """``allowed``: the only variables placeholders may read (``templating.env``), None for none;
    ``variables``: the registry's, for ``{{ prefect.variables.x }}`` (None: left as written)."""
    document = read_mapping(path, raw)
    if isinstance(document, Diagnostic):
        return ParsedManifest((), (document,))
    locator = Locator(document.text)
    code_dir = posixpath.dirname(path) or "."
    if is_project_file(path):
        return _parse_project(path, document.data, code_dir, defaults, env, locator, allowed, variables)
    return _parse_block_deployment(path, document.data, code_dir, defaults, locator)


def parse_repo_settings(path: str, raw: bytes) -> tuple[RepoSettings, tuple[Diagnostic, ...]]:
    document = read_mapping(path, raw)
    if isinstance(document, Diagnostic):
        return RepoSettings(), (document,)
    try:
        return RepoSettings.model_validate(document.data), ()
    except ValidationError as exc:
        found = diagnostics_from_validation(exc, RepoSettings, path, Locator(document.text))
        return RepoSettings(), tuple(found)


def read_mapping(path: str, raw: bytes) -> ParsedYaml | Diagnostic:
    parsed = parse_yaml(raw)
    if not isinstance(parsed, ParsedYaml):
        field = ""
        if parsed.code == "invalid-value":  # the document composes; only a value was refused
            field = format_field_path(field_at(raw.decode("utf-8", "replace"), parsed.line, parsed.column))
        return Diagnostic(path, parsed.line, parsed.column, field, parsed.message, parsed.code)
    if not isinstance(parsed.data, dict):
        what = "empty" if parsed.data is None else f"a {type(parsed.data).__name__}"
        return Diagnostic(
            path,
            1,
            1,
            "",
            f"file is {what}; a manifest is a mapping of keys (name: …, entrypoint: …)",
            "not-a-mapping",
        )
    return parsed


def _validate(model: type[BaseModel], data: Any, path: str, locator: Locator) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return tuple(diagnostics_from_validation(exc, model, path, locator))


def _parse_block_deployment(
    path: str, data: dict[str, Any], code_dir: str, defaults: DeploymentDefaults, locator: Locator
) -> ParsedManifest:
    manifest = _validate(BlockDeploymentManifest, data, path, locator)
    if isinstance(manifest, tuple):
        return ParsedManifest((), manifest)
    infrastructure = effective_infrastructure(manifest, path, locator)
    if isinstance(infrastructure, list):
        return ParsedManifest((), tuple(infrastructure))
    return ParsedManifest(
        (spec_from_block_deployment(manifest, path, code_dir, defaults, *infrastructure),), ()
    )


def _parse_project(
    path: str,
    data: dict[str, Any],
    code_dir: str,
    defaults: DeploymentDefaults,
    env: Mapping[str, str],
    locator: Locator,
    allowed: Collection[str] | None,
    variables: Mapping[str, str] | None,
) -> ParsedManifest:
    resolved, missing = resolve_env_placeholders(data, env, allowed, variables=variables)
    found = placeholder_diagnostics(path, missing, locator)
    project = _validate(ProjectManifest, resolved, path, locator)
    if isinstance(project, tuple):
        return ParsedManifest((), found + project)
    if any(d.severity is Severity.ERROR for d in found):
        return ParsedManifest((), found)
    specs, refused = [], []
    for index, item in enumerate(project.deployments):
        folder = code_folder(code_dir, item.code, item.entrypoint)
        if isinstance(folder, CodeProblem):
            where = ("deployments", index, folder.field)
            line, column = locator.locate(where)
            shown = format_field_path(where)
            refused.append(Diagnostic(path, line, column, shown, folder.message, folder.code))
        else:
            specs.append(_spec_from_project(item, index, path, folder, defaults))
    found += (*refused, *unused_fields_warning(path, resolved, locator))
    return ParsedManifest(tuple(specs), found)


def _spec_from_project(
    d: ProjectDeployment, index: int, path: str, folder: CodeFolder, defaults: DeploymentDefaults
) -> DeploymentSpec:
    pool = d.work_pool
    raw_schedules = d.schedules or ([d.schedule] if d.schedule is not None else [])
    return DeploymentSpec(
        flow_name=d.flow_name or "",
        name=d.name,
        entrypoint=folder[1],
        code_dir=folder[0],
        source=SourceRef(path, ("deployments", index)),
        description=d.description,
        tags=merged_tags(d.tags, defaults),
        parameters={**defaults.parameters, **d.parameters},
        schedules=tuple(
            schedule_spec(s, active=s.active, slug=s.slug, parameters=s.parameters) for s in raw_schedules
        ),
        paused=bool(d.paused),
        concurrency_limit=_limit(d) or defaults.concurrency_limit,
        collision_strategy=d.concurrency_limit.collision_strategy
        if isinstance(d.concurrency_limit, ConcurrencyLimit)
        else None,
        declared_version=d.version or None,
        work_pool_name=(pool.name if pool else None) or defaults.work_pool_name,
        work_queue_name=queue_name(pool.work_queue_name if pool else None, defaults),
        job_variables=deep_merge(defaults.job_variables, pool.job_variables if pool else {}),
        enforce_parameter_schema=enforce_schema(d.enforce_parameter_schema, defaults, prefect_default=True),
        triggers=tuple(trigger_record(t, d.name, i) for i, t in enumerate(d.triggers, 1)),
    )


def _limit(d: ProjectDeployment) -> int | None:
    return (
        d.concurrency_limit.limit
        if isinstance(d.concurrency_limit, ConcurrencyLimit)
        else d.concurrency_limit
    )
