"""What a registry holds, as the planner sees it, and the status of the last passes.

``ActualDeployment`` carries the stored record as JSON text plus two digests: of the record
as it is now, and of what deployctl last applied. Equal digests mean nothing to do; a
record that differs from what was applied has drifted. Pure data.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from controller.core.spec import DeploymentId


@dataclass(frozen=True)
class ActualDeployment:
    id: DeploymentId
    record_json: str
    record_digest: str
    applied_digest: str | None
    owner: str | None
    source_file: str | None
    version: str | None


class ConditionType(enum.Enum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


class Reason(enum.Enum):
    SUCCEEDED = "Succeeded"
    VALIDATION_FAILED = "ValidationFailed"
    SOURCE_FAILED = "SourceFailed"
    BUILD_FAILED = "BuildFailed"
    APPLY_FAILED = "ApplyFailed"
    REGISTRY_FAILED = "RegistryFailed"
    PRUNE_BLOCKED = "PruneBlocked"
    CONFLICT = "Conflict"


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: bool
    reason: Reason
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "status": self.status,
            "reason": self.reason.value,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Condition:
        return cls(ConditionType(data["type"]), data["status"], Reason(data["reason"]), data["message"])


@dataclass(frozen=True)
class SourceStatus:
    """The status of one owner's source: what was last tried, what is in force."""

    owner: str
    repo_url: str = ""
    ref: str = ""
    path: str = ""
    last_attempted_revision: str | None = None
    last_applied_revision: str | None = None
    applied_generation: int | None = None
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    updated_at: str | None = None
    identity: str | None = None
    """The canonical identity of the repository the applied revision came from (None: recorded
    by a deployctl that did not keep it); an owner belongs to one repository."""
