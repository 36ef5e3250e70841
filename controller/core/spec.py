"""Desired state: the normalised record of one declared deployment and its schedules.

Built by ``controller.loading`` from any accepted manifest shape, consumed by planning,
applying and scheduling. Every optional field carries its effective default, so two
manifests that mean the same thing produce equal specs. Pure data, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NewType

DeploymentId = NewType("DeploymentId", str)
"""``flow_name/deployment_name``: the identity of a deployment across git and registries."""

JSON = Any


def deployment_id(flow_name: str, name: str) -> DeploymentId:
    return DeploymentId(f"{flow_name}/{name}")


class ScheduleKind(enum.Enum):
    CRON = "cron"
    INTERVAL = "interval"
    RRULE = "rrule"


@dataclass(frozen=True)
class ScheduleSpec:
    """One schedule of a deployment. Only the fields of its ``kind`` are set.

    ``interval_seconds`` is a float as Prefect stores it; ``anchor_date`` is an ISO-8601
    string with offset; ``timezone`` is an IANA name (``UTC`` when the manifest said none).
    """

    kind: ScheduleKind
    timezone: str = "UTC"
    cron: str | None = None
    day_or: bool = True
    interval_seconds: float | None = None
    anchor_date: str | None = None
    rrule: str | None = None
    active: bool = True
    slug: str | None = None
    parameters: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class InfrastructureSpec:
    """How runs execute: an inline block, or a reference to a saved one by name."""

    type: str = "process"
    block_name: str | None = None
    settings: dict[str, JSON] = field(default_factory=dict)


@dataclass(frozen=True)
class RunPolicy:
    """How the embedded runner treats this deployment's runs (Prefect's @flow arguments,
    overridable per deployment in .deployctl.yaml)."""

    retries: int = 0
    retry_delay_seconds: float = 0
    timeout_seconds: float | None = None
    catchup: bool = False


@dataclass(frozen=True)
class SourceRef:
    """Where a spec was declared: the file and the field path of its block in that file."""

    file: str
    path: tuple[str | int, ...] = ()


@dataclass(frozen=True)
class DeploymentSpec:
    """The desired state of one deployment, as declared in git."""

    flow_name: str
    name: str
    entrypoint: str
    code_dir: str
    source: SourceRef
    description: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    parameters: dict[str, JSON] = field(default_factory=dict)
    schedules: tuple[ScheduleSpec, ...] = ()
    paused: bool = False
    concurrency_limit: int | None = None
    work_pool_name: str | None = None
    work_queue_name: str = "default"
    job_variables: dict[str, JSON] = field(default_factory=dict)
    infrastructure: InfrastructureSpec = field(default_factory=InfrastructureSpec)
    storage: dict[str, JSON] | None = None
    parameter_openapi_schema: dict[str, JSON] = field(default_factory=dict)
    enforce_parameter_schema: bool = False
    triggers: tuple[dict[str, JSON], ...] = ()
    run_policy: RunPolicy = field(default_factory=RunPolicy)
    code_digest: str | None = None
    """Content digest of the code folder; with ``version`` it is set by the engine, not loading."""
    declared_version: str | None = None
    """The ``version:`` a prefect.yaml declares, kept for display beside the commit ``version``."""
    collision_strategy: str | None = None
    """What a run beyond ``concurrency_limit`` does: ``ENQUEUE`` (the default when None) or
    ``CANCEL_NEW``, as Prefect 3's ``concurrency_limit: {limit, collision_strategy}``."""
    code_delivery: dict[str, str] | None = None
    """How a Prefect server's workers get the code (``code``, ``git_credentials``), when the
    repository's ``.deployctl.yaml`` says so: part of what is declared, so that changing it
    rewrites the deployments. The embedded registry records it and runs the code it stores."""
    code_links: bool | None = None
    """True when the code folder holds a symlink (set by the engine): what it points at can
    change outside the folder, so a change anywhere may change this deployment."""

    @property
    def id(self) -> DeploymentId:
        return deployment_id(self.flow_name, self.name)

    @cached_property
    def record_json(self) -> str:
        """The canonical JSON of this spec's record, made once: a pass digests it, then writes it.
        (A spec is a value: nothing changes it after it is made.)"""
        from controller.core.records import canonical_json, to_record

        return canonical_json(to_record(self))

    @property
    def entrypoint_file(self) -> str:
        return self.entrypoint.rsplit(":", 1)[0]

    @property
    def entrypoint_function(self) -> str:
        return self.entrypoint.rsplit(":", 1)[-1]
