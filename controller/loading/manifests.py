"""One manifest file -> deployment specs or diagnostics. Pure function of its inputs.

``parse_manifest`` reads a block-based ``deployment.yaml`` or a ``prefect.yaml`` from bytes,
validates it and normalises every deployment in it to a ``DeploymentSpec`` with the
repository defaults merged in. Its result depends only on (path, bytes, defaults, env), so
callers may cache it by git blob id. Called by ``controller.loading.loader``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.core.diagnostics import Diagnostic, Severity
from controller.core.spec import DeploymentSpec, InfrastructureSpec, ScheduleKind, ScheduleSpec, SourceRef
from controller.loading.models.base import CronModel, IntervalModel, RRuleModel
from controller.loading.models.block_deployment import (
    BlockDeploymentManifest,
    ProcessInfrastructure,
    _Block,
    apply_overrides,
)
from controller.loading.models.project import ConcurrencyLimit, ProjectDeployment, ProjectManifest
from controller.loading.models.repo_settings import DeploymentDefaults, RepoSettings
from controller.loading.placeholders import placeholder_diagnostics, resolve_env_placeholders
from controller.loading.problems import diagnostics_from_validation
from controller.loading.safe_yaml import Locator, ParsedYaml, parse_yaml
from controller.loading.unused_fields import unused_fields_warning

DEFAULT_INTERVAL_ANCHOR = "2020-01-01T00:00:00+00:00"
_BLOCK_META = {alias for alias in (f.alias for f in _Block.model_fields.values()) if alias} | {
    "block_type_slug",
    "type",
}


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
) -> ParsedManifest:
    """``allowed``: the only variables placeholders may read (``templating.env``), None for any."""
    document = _read_mapping(path, raw)
    if isinstance(document, Diagnostic):
        return ParsedManifest((), (document,))
    locator = Locator(document.text)
    code_dir = posixpath.dirname(path) or "."
    if is_project_file(path):
        return _parse_project(path, document.data, code_dir, defaults, env, locator, allowed)
    return _parse_block_deployment(path, document.data, code_dir, defaults, locator)


def parse_repo_settings(path: str, raw: bytes) -> tuple[RepoSettings, tuple[Diagnostic, ...]]:
    document = _read_mapping(path, raw)
    if isinstance(document, Diagnostic):
        return RepoSettings(), (document,)
    try:
        return RepoSettings.model_validate(document.data), ()
    except ValidationError as exc:
        found = diagnostics_from_validation(exc, RepoSettings, path, Locator(document.text))
        return RepoSettings(), tuple(found)


def _read_mapping(path: str, raw: bytes) -> ParsedYaml | Diagnostic:
    parsed = parse_yaml(raw)
    if not isinstance(parsed, ParsedYaml):
        return Diagnostic(path, parsed.line, parsed.column, "", parsed.message, parsed.code)
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
    infrastructure = _effective_infrastructure(manifest, path, locator)
    if isinstance(infrastructure, list):
        return ParsedManifest((), tuple(infrastructure))
    return ParsedManifest(
        (_spec_from_block_deployment(manifest, path, code_dir, defaults, *infrastructure),), ()
    )


def _parse_project(
    path: str,
    data: dict[str, Any],
    code_dir: str,
    defaults: DeploymentDefaults,
    env: Mapping[str, str],
    locator: Locator,
    allowed: Collection[str] | None,
) -> ParsedManifest:
    resolved, missing = resolve_env_placeholders(data, env, allowed)
    found = placeholder_diagnostics(path, missing, locator)
    project = _validate(ProjectManifest, resolved, path, locator)
    if isinstance(project, tuple):
        return ParsedManifest((), found + project)
    if any(d.severity is Severity.ERROR for d in found):
        return ParsedManifest((), found)
    specs = tuple(
        _spec_from_project(item, index, path, code_dir, defaults)
        for index, item in enumerate(project.deployments)
    )
    return ParsedManifest(specs, found + unused_fields_warning(path, resolved, locator))


def _spec_from_block_deployment(
    m: BlockDeploymentManifest,
    path: str,
    code_dir: str,
    defaults: DeploymentDefaults,
    infrastructure: InfrastructureSpec,
    overrides: dict[str, Any],
) -> DeploymentSpec:
    if m.schedules:
        schedules = tuple(_schedule(item.schedule, active=item.active) for item in m.schedules)
    elif m.schedule is not None:
        schedules = (_schedule(m.schedule),)
    else:
        schedules = ()
    return DeploymentSpec(
        flow_name=m.flow_name,
        name=m.name,
        entrypoint=m.entrypoint,
        code_dir=code_dir,
        source=SourceRef(path),
        description=m.description,
        tags=_tags(m.tags, defaults),
        parameters={**defaults.parameters, **m.parameters},
        schedules=schedules,
        paused=m.is_schedule_active is False,  # Prefect 2.20 pauses the deployment
        concurrency_limit=defaults.concurrency_limit,
        work_pool_name=m.work_pool_name or defaults.work_pool_name,
        work_queue_name=_queue(m.work_queue_name, defaults),
        job_variables=_deep_merge(defaults.job_variables, overrides),
        infrastructure=infrastructure,
        storage=_block_fields(m.storage),
        parameter_openapi_schema=m.parameter_openapi_schema or {},
        enforce_parameter_schema=_enforce(m.enforce_parameter_schema, defaults),
        triggers=tuple(m.triggers),
    )


def _spec_from_project(
    d: ProjectDeployment, index: int, path: str, code_dir: str, defaults: DeploymentDefaults
) -> DeploymentSpec:
    pool = d.work_pool
    raw_schedules = d.schedules or ([d.schedule] if d.schedule is not None else [])
    return DeploymentSpec(
        flow_name=d.flow_name or "",
        name=d.name,
        entrypoint=d.entrypoint,
        code_dir=code_dir,
        source=SourceRef(path, ("deployments", index)),
        description=d.description,
        tags=_tags(d.tags, defaults),
        parameters={**defaults.parameters, **d.parameters},
        schedules=tuple(
            _schedule(s, active=s.active, slug=s.slug, parameters=s.parameters) for s in raw_schedules
        ),
        paused=bool(d.paused),
        concurrency_limit=_limit(d) or defaults.concurrency_limit,
        collision_strategy=d.concurrency_limit.collision_strategy
        if isinstance(d.concurrency_limit, ConcurrencyLimit)
        else None,
        declared_version=d.version or None,
        work_pool_name=(pool.name if pool else None) or defaults.work_pool_name,
        work_queue_name=_queue(pool.work_queue_name if pool else None, defaults),
        job_variables=_deep_merge(defaults.job_variables, pool.job_variables if pool else {}),
        enforce_parameter_schema=_enforce(d.enforce_parameter_schema, defaults, prefect_default=True),
        triggers=tuple(d.triggers),
    )


def _limit(d: ProjectDeployment) -> int | None:
    return (
        d.concurrency_limit.limit
        if isinstance(d.concurrency_limit, ConcurrencyLimit)
        else d.concurrency_limit
    )


def _schedule(
    model: BaseModel, active: bool = True, slug: str | None = None, parameters: dict[str, Any] | None = None
) -> ScheduleSpec:
    common: dict[str, Any] = {
        "timezone": getattr(model, "timezone", None) or "UTC",
        "active": active,
        "slug": slug,
        "parameters": parameters or {},
    }
    if isinstance(model, CronModel):
        return ScheduleSpec(ScheduleKind.CRON, cron=model.cron, day_or=model.day_or, **common)
    if isinstance(model, IntervalModel):
        assert isinstance(model.interval, float)  # the validator converted it
        return ScheduleSpec(
            ScheduleKind.INTERVAL,
            interval_seconds=model.interval,
            anchor_date=model.anchor_date or DEFAULT_INTERVAL_ANCHOR,
            **common,
        )
    assert isinstance(model, RRuleModel)
    return ScheduleSpec(ScheduleKind.RRULE, rrule=model.rrule.strip(), **common)


def _effective_infrastructure(
    m: BlockDeploymentManifest, path: str, locator: Locator
) -> tuple[InfrastructureSpec, dict[str, Any]] | list[Diagnostic]:
    """The infrastructure with ``infra_overrides`` applied and checked by its block's model (so
    ``stream_output: 'false'`` is false, as Prefect's block validation makes it), and the job
    variables: ``job_variables``, else the overrides nested, with their values coerced."""
    if m.job_variables or not m.infra_overrides:
        return _infrastructure(m, {}), m.job_variables
    infra = m.infrastructure
    model = type(infra) if infra is not None else ProcessInfrastructure
    base = infra.model_dump(by_alias=True) if infra is not None else {"type": "process"}
    nested = apply_overrides({}, m.infra_overrides)
    if _plain_env(nested):  # the common case: nothing for the block's model to coerce
        return _infrastructure(m, apply_overrides(base, m.infra_overrides) if infra else {}), nested
    try:
        checked = model.model_validate(apply_overrides(base, m.infra_overrides)).model_dump(by_alias=True)
    except ValidationError as exc:
        return diagnostics_from_validation(exc, model, path, locator, ("infra_overrides",))
    overrides = {k: v if isinstance(v, dict) else checked.get(k, v) for k, v in nested.items()}
    return _infrastructure(m, checked if infra is not None else {}), overrides


def _plain_env(nested: dict[str, Any]) -> bool:
    env = nested.get("env")
    return (
        nested.keys() == {"env"}
        and isinstance(env, dict)
        and all(isinstance(v, str) or v is None for v in env.values())
    )


def _infrastructure(m: BlockDeploymentManifest, applied: dict[str, Any]) -> InfrastructureSpec:
    infra = m.infrastructure
    if infra is None:
        return InfrastructureSpec()
    block_name = None if infra.is_anonymous or infra.is_anonymous is None else infra.block_document_name
    fields = applied or infra.model_dump(by_alias=True)
    settings = {k: v for k, v in fields.items() if k not in _BLOCK_META}
    return InfrastructureSpec(type=infra.type, block_name=block_name, settings=settings)


def _block_fields(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """A storage block without the ids that differ between Prefect servers."""
    if block is None:
        return None
    return {k: v for k, v in block.items() if k not in ("_block_document_id", "_is_anonymous")}


def _tags(tags: list[str], defaults: DeploymentDefaults) -> tuple[str, ...]:
    return tuple(sorted({*defaults.tags, *tags}))


def _queue(name: str | None, defaults: DeploymentDefaults) -> str:
    return name or defaults.work_queue_name or "default"


def _enforce(value: bool | None, defaults: DeploymentDefaults, prefect_default: bool = False) -> bool:
    """The file's setting, else the repository default, else Prefect's: ``prefect deploy``
    enforces the schema, a Prefect 2 deployment.yaml without the key does not."""
    for setting in (value, defaults.enforce_parameter_schema):
        if setting is not None:
            return setting
    return prefect_default


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
