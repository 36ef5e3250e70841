"""Deployment records: the one JSON-shaped form of a deployment that registries store and diff.

``to_record`` and ``from_record`` round-trip a ``DeploymentSpec`` losslessly but for one
thing, so what was applied and what git declares compare field by field: a record names the
file that declares its deployment and the list it is in, not its position in that list (where
an entry is written is not what it declares: an entry inserted above it must change nothing).
``record_digest`` fingerprints a record for the fast equality check that keeps a no-op pass
cheap. Pure.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from controller.core.spec import (
    DeploymentSpec,
    InfrastructureSpec,
    RunPolicy,
    ScheduleKind,
    ScheduleSpec,
    SourceRef,
)

Record = dict[str, Any]


_OPTIONAL_FIELDS = ("declared_version", "collision_strategy", "code_delivery", "code_links")
"""Fields added later: in a record only when set, so older records keep their digests."""


def to_record(spec: DeploymentSpec) -> Record:
    """The record of a spec: plain JSON types, one key per field (written out, not ``asdict``,
    because this runs for every deployment of every pass)."""
    record = _base_record(spec)
    for name in _OPTIONAL_FIELDS:
        value = getattr(spec, name)
        if value is not None:
            record[name] = value
    return record


def _base_record(spec: DeploymentSpec) -> Record:
    return {
        "flow_name": spec.flow_name,
        "name": spec.name,
        "entrypoint": spec.entrypoint,
        "code_dir": spec.code_dir,
        "source": {"file": spec.source.file, "path": [p for p in spec.source.path if isinstance(p, str)]},
        "description": spec.description,
        "version": spec.version,
        "tags": list(spec.tags),
        "parameters": spec.parameters,
        "schedules": [schedule_record(s) for s in spec.schedules],
        "paused": spec.paused,
        "concurrency_limit": spec.concurrency_limit,
        "work_pool_name": spec.work_pool_name,
        "work_queue_name": spec.work_queue_name,
        "job_variables": spec.job_variables,
        "infrastructure": {
            "type": spec.infrastructure.type,
            "block_name": spec.infrastructure.block_name,
            "settings": spec.infrastructure.settings,
        },
        "storage": spec.storage,
        "parameter_openapi_schema": spec.parameter_openapi_schema,
        "enforce_parameter_schema": spec.enforce_parameter_schema,
        "triggers": list(spec.triggers),
        "run_policy": {
            "retries": spec.run_policy.retries,
            "retry_delay_seconds": spec.run_policy.retry_delay_seconds,
            "timeout_seconds": spec.run_policy.timeout_seconds,
            "catchup": spec.run_policy.catchup,
        },
        "code_digest": spec.code_digest,
    }


def schedule_record(schedule: ScheduleSpec) -> Record:
    return {
        "kind": schedule.kind.value,
        "timezone": schedule.timezone,
        "cron": schedule.cron,
        "day_or": schedule.day_or,
        "interval_seconds": schedule.interval_seconds,
        "anchor_date": schedule.anchor_date,
        "rrule": schedule.rrule,
        "active": schedule.active,
        "slug": schedule.slug,
        "parameters": schedule.parameters,
    }


def from_record(record: Record) -> DeploymentSpec:
    fields = dict(record)
    fields["schedules"] = tuple(
        ScheduleSpec(**{**s, "kind": ScheduleKind(s["kind"])}) for s in record["schedules"]
    )
    fields["tags"] = tuple(record["tags"])
    fields["triggers"] = tuple(record["triggers"])
    fields["infrastructure"] = InfrastructureSpec(**record["infrastructure"])
    fields["source"] = SourceRef(record["source"]["file"], tuple(record["source"]["path"]))
    fields["run_policy"] = RunPolicy(**record["run_policy"])
    return DeploymentSpec(**fields)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_digest(record: Record) -> str:
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()


def spec_digest(spec: DeploymentSpec) -> str:
    """``record_digest(to_record(spec))``, from the spec's JSON made once."""
    return hashlib.sha256(spec.record_json.encode()).hexdigest()


def entry_leaves_folder(record_json: str) -> bool:
    """Whether a stored record's code may lie outside its manifest's folder, where a change
    would not touch the manifest: an entrypoint that leaves it, or a symlink in the code folder
    (records are canonical JSON, so a scan is enough)."""
    if '"code_links":true' in record_json:
        return True
    key = '"entrypoint":"'
    start = record_json.find(key)
    if start < 0:
        return True
    start += len(key)
    value = record_json[start : record_json.find('"', start)]
    return ".." in value or value.startswith("/") or "\\" in value
