"""Pieces every manifest shape shares when it becomes a ``DeploymentSpec``: schedules, tags,
queue, schema enforcement and the merge of repository defaults. Pure; used by
``controller.loading.manifests`` and ``controller.loading.block_specs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from controller.core.spec import ScheduleKind, ScheduleSpec
from controller.loading.models.base import CronModel, IntervalModel, RRuleModel
from controller.loading.models.repo_settings import DeploymentDefaults

DEFAULT_INTERVAL_ANCHOR = "2020-01-01T00:00:00+00:00"


def schedule_spec(
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


def merged_tags(tags: list[str], defaults: DeploymentDefaults) -> tuple[str, ...]:
    return tuple(sorted({*defaults.tags, *tags}))


def queue_name(name: str | None, defaults: DeploymentDefaults) -> str:
    return name or defaults.work_queue_name or "default"


def enforce_schema(value: bool | None, defaults: DeploymentDefaults, prefect_default: bool = False) -> bool:
    """The file's setting, else the repository default, else Prefect's: ``prefect deploy``
    enforces the schema, a Prefect 2 deployment.yaml without the key does not."""
    for setting in (value, defaults.enforce_parameter_schema):
        if setting is not None:
            return setting
    return prefect_default


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
