"""The plan: what to create, update, delete or leave alone, and why. ``make_plan`` is pure.

Safety rules live here, so ``plan`` shows exactly what ``sync`` would refuse: only what the
owner's inventory lists **and** still carries the owner marker is ever deleted; a plan
deleting every owned deployment needs ``allow_empty``; one deleting more than the prune cap
needs ``force_prune``; deployments of frozen (broken) files are neither updated nor deleted;
a same-named deployment owned by someone else is a conflict and is left untouched.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

from controller.core.diff import DiffItem, diff_records
from controller.core.records import spec_digest, to_record
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import ActualDeployment


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    NOOP = "noop"


class Cause(enum.Enum):
    GIT = "changed in git"
    DRIFT = "drifted in the registry"
    NONE = ""


@dataclass(frozen=True)
class Change:
    action: Action
    id: DeploymentId
    cause: Cause = Cause.NONE
    diff: tuple[DiffItem, ...] = ()
    desired: DeploymentSpec | None = None
    desired_digest: str | None = None


@dataclass(frozen=True)
class PlanPolicy:
    owner: str
    prune: bool = True
    max_prune_fraction: float = 0.5
    allow_empty: bool = False
    force_prune: bool = False
    frozen_files: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    conflicts: tuple[DeploymentId, ...] = ()
    frozen: tuple[DeploymentId, ...] = ()
    refusals: tuple[str, ...] = ()
    owned_count: int = 0
    unchanged: int = 0
    """Owned deployments left as they are without being listed in ``changes`` (an incremental
    pass never reads them): NOOPs, counted."""

    def of(self, action: Action) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is action)

    @property
    def has_changes(self) -> bool:
        return any(c.action is not Action.NOOP for c in self.changes)

    @property
    def writes(self) -> int:
        """How many changes write to the registry (every one but NOOP)."""
        return sum(1 for c in self.changes if c.action is not Action.NOOP)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((action.value for action in Action), 0)
        for change in self.changes:
            counts[change.action.value] += 1
        counts[Action.NOOP.value] += self.unchanged
        return counts

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def make_plan(
    desired: Mapping[DeploymentId, DeploymentSpec],
    actual: Mapping[DeploymentId, ActualDeployment],
    inventory: frozenset[DeploymentId],
    policy: PlanPolicy,
    digests: Mapping[DeploymentId, str] | None = None,
) -> Plan:
    """``digests`` may carry each desired record's digest, when the caller has it cached."""
    owned = frozenset(i for i in inventory if i in actual and actual[i].owner == policy.owner)
    changes, conflicts = [], []
    for identity in sorted(desired):
        current = actual.get(identity)
        if current is not None and current.owner != policy.owner:
            conflicts.append(identity)
            continue
        known = digests.get(identity) if digests is not None else None
        changes.append(_upsert(desired[identity], current, known))
    deletes, frozen = _prunes(desired, actual, owned, policy)
    changes += deletes
    refusals = prune_refusals(len(desired), len(deletes), len(owned), policy)
    return Plan(tuple(changes), tuple(conflicts), tuple(frozen), refusals, len(owned))


def _upsert(spec: DeploymentSpec, current: ActualDeployment | None, digest: str | None) -> Change:
    digest = digest or spec_digest(spec)
    if current is None:
        return Change(Action.CREATE, spec.id, Cause.GIT, desired=spec, desired_digest=digest)
    if digest == current.record_digest:
        return Change(Action.NOOP, spec.id, desired=spec, desired_digest=digest)
    cause = Cause.DRIFT if digest == current.applied_digest else Cause.GIT
    diff = diff_records(json.loads(current.record_json), to_record(spec))
    return Change(Action.UPDATE, spec.id, cause, diff, spec, digest)


def _prunes(
    desired: Mapping[DeploymentId, DeploymentSpec],
    actual: Mapping[DeploymentId, ActualDeployment],
    owned: frozenset[DeploymentId],
    policy: PlanPolicy,
) -> tuple[list[Change], list[DeploymentId]]:
    deletes, frozen = [], []
    for identity in sorted(owned - desired.keys()):
        if actual[identity].source_file in policy.frozen_files:
            frozen.append(identity)
        elif policy.prune:
            deletes.append(Change(Action.DELETE, identity, Cause.GIT))
    return deletes, frozen


def prune_refusals(
    desired_count: int, delete_count: int, owned_count: int, policy: PlanPolicy
) -> tuple[str, ...]:
    if not delete_count:
        return ()
    if desired_count == 0 and delete_count == owned_count:
        if policy.allow_empty:
            return ()
        return (
            f"the commit declares no deployments, so this plan would delete all {owned_count} "
            "owned deployments; if that is intended, pass --allow-empty",
        )
    if delete_count > policy.max_prune_fraction * owned_count and not policy.force_prune:
        return (
            f"this plan would delete {delete_count} of {owned_count} owned deployments, more "
            f"than the prune cap of {policy.max_prune_fraction:.0%}; if that is intended, pass "
            "--force-prune",
        )
    return ()


def restrict_plan(plan: Plan, ids: frozenset[DeploymentId]) -> Plan:
    """Only the creates, updates and conflicts of ``ids`` (``deployment apply FILE``): nothing
    else is written, and nothing is pruned, so no prune refusal applies."""
    kept = tuple(c for c in plan.changes if c.id in ids and c.action is not Action.DELETE)
    conflicts = tuple(i for i in plan.conflicts if i in ids)
    return Plan(kept, conflicts, (), (), plan.owned_count)
