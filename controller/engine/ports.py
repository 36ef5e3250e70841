"""Ports: the interfaces the reconciler needs from a registry, and the values crossing them.

The embedded SQLite registry implements ``Registry`` today; a Prefect server will too. The
planner never knows which one it talks to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller.core.plan import Plan
from controller.core.spec import DeploymentId
from controller.core.state import ActualDeployment, Condition, SourceStatus


@dataclass(frozen=True)
class RegistryState:
    actual: dict[DeploymentId, ActualDeployment]
    inventory: frozenset[DeploymentId]
    status: SourceStatus | None
    generation: int
    known: dict[DeploymentId, tuple[str, str, str]]  # id -> (input digest, version, commit)


@dataclass(frozen=True)
class AppliedDeployment:
    """What the registry keeps beside a deployment's record."""

    commit: str
    input_digest: str
    artifact_uri: str


@dataclass(frozen=True)
class Application:
    """Everything an apply or a status record needs beyond the plan."""

    owner: str
    revision: str | None
    repo_url: str
    ref: str
    path: str
    conditions: tuple[Condition, ...]
    deployments: Mapping[DeploymentId, AppliedDeployment] = field(default_factory=dict)


class Registry(Protocol):
    supported_infrastructure: frozenset[str] | None
    """Infrastructure types whose runs this registry can execute; None: any (a remote engine)."""

    def generation(self) -> int: ...

    def read_status(self, owner: str) -> SourceStatus | None: ...

    def read_state(self, owner: str) -> RegistryState: ...

    def apply(self, plan: Plan, app: Application) -> dict[DeploymentId, str]: ...

    def record_status(self, app: Application, plan: Plan | None, applied: bool) -> bool: ...

    def list_deployments(self) -> list[dict[str, Any]]: ...
