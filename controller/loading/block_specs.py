"""A Prefect 2 ``deployment.yaml`` as a ``DeploymentSpec``, the way Prefect 2.20's agent reads it.

``infra_overrides`` are applied to the infrastructure block in order (``env.A`` sets one
variable, ``env`` replaces them) and checked by the block's model, which coerces values as
Prefect's block validation does; ``is_schedule_active: false`` pauses the deployment. Pure;
called by ``controller.loading.manifests``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from controller.core.diagnostics import Diagnostic
from controller.core.spec import DeploymentSpec, InfrastructureSpec, SourceRef
from controller.loading.models.block_deployment import (
    BlockDeploymentManifest,
    ProcessInfrastructure,
    _Block,
    apply_overrides,
)
from controller.loading.models.repo_settings import DeploymentDefaults
from controller.loading.models.triggers import trigger_record
from controller.loading.problems import diagnostics_from_validation
from controller.loading.safe_yaml import Locator
from controller.loading.spec_parts import deep_merge, enforce_schema, merged_tags, queue_name, schedule_spec

_BLOCK_META = {alias for alias in (f.alias for f in _Block.model_fields.values()) if alias} | {
    "block_type_slug",
    "type",
}


def spec_from_block_deployment(
    m: BlockDeploymentManifest,
    path: str,
    code_dir: str,
    defaults: DeploymentDefaults,
    infrastructure: InfrastructureSpec,
    overrides: dict[str, Any],
) -> DeploymentSpec:
    if m.schedules:
        schedules = tuple(schedule_spec(item.schedule, active=item.active) for item in m.schedules)
    elif m.schedule is not None:
        schedules = (schedule_spec(m.schedule),)
    else:
        schedules = ()
    return DeploymentSpec(
        flow_name=m.flow_name,
        name=m.name,
        entrypoint=m.entrypoint,
        code_dir=code_dir,
        source=SourceRef(path),
        description=m.description,
        tags=merged_tags(m.tags, defaults),
        parameters={**defaults.parameters, **m.parameters},
        schedules=schedules,
        paused=m.is_schedule_active is False,  # Prefect 2.20 pauses the deployment
        concurrency_limit=defaults.concurrency_limit,
        work_pool_name=m.work_pool_name or defaults.work_pool_name,
        work_queue_name=queue_name(m.work_queue_name, defaults),
        job_variables=deep_merge(defaults.job_variables, overrides),
        infrastructure=infrastructure,
        storage=_block_fields(m.storage),
        parameter_openapi_schema=m.parameter_openapi_schema or {},
        enforce_parameter_schema=enforce_schema(m.enforce_parameter_schema, defaults),
        triggers=tuple(trigger_record(t, m.name, i) for i, t in enumerate(m.triggers, 1)),
    )


def effective_infrastructure(
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
