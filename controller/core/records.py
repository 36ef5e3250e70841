"""Deployment records: the one JSON-shaped form of a deployment that registries store and diff.

``to_record`` and ``from_record`` round-trip a ``DeploymentSpec`` losslessly, so what was
applied and what git declares compare field by field. ``record_digest`` fingerprints a
record for the fast equality check that keeps a no-op pass cheap. Pure.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from controller.core.spec import DeploymentSpec, InfrastructureSpec, ScheduleKind, ScheduleSpec, SourceRef

Record = dict[str, Any]


def to_record(spec: DeploymentSpec) -> Record:
    record = asdict(spec)
    record["schedules"] = [{**s, "kind": s["kind"].value} for s in record["schedules"]]
    record["tags"] = list(spec.tags)
    record["triggers"] = list(spec.triggers)
    record["source"] = {"file": spec.source.file, "path": list(spec.source.path)}
    return record


def from_record(record: Record) -> DeploymentSpec:
    fields = dict(record)
    fields["schedules"] = tuple(
        ScheduleSpec(**{**s, "kind": ScheduleKind(s["kind"])}) for s in record["schedules"]
    )
    fields["tags"] = tuple(record["tags"])
    fields["triggers"] = tuple(record["triggers"])
    fields["infrastructure"] = InfrastructureSpec(**record["infrastructure"])
    fields["source"] = SourceRef(record["source"]["file"], tuple(record["source"]["path"]))
    return DeploymentSpec(**fields)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_digest(record: Record) -> str:
    return hashlib.sha256(canonical_json(record).encode()).hexdigest()
