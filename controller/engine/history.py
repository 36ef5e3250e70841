"""A finished pass as a history record: ``pass_record``, called by ``Reconciler.reconcile_once``.

The outcome is what the registry holds after the pass: ``applied`` only when every write
took, ``failed`` when a write or the registry failed (the next pass retries), ``refused``
when the commit was not applied (invalid manifests, an unsafe prune, a held owner), and
``up_to_date`` when there was nothing to do. An idle pass (nothing to change and nothing wrong:
a sync of the applied commit, a drift pass that found no drift) is not recorded, so that the
history keeps what changed or was tried, and a no-op sync still writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.core.diagnostics import Severity
from controller.core.history import PassChange, PassOutcome, PassRecord, Trigger
from controller.core.plan import Action
from controller.core.state import ConditionType

if TYPE_CHECKING:  # the reconciler imports this module
    from controller.engine.reconciler import SyncResult


def worth_recording(result: SyncResult) -> bool:
    wrote = result.plan is not None and result.plan.has_changes
    return wrote or result.error is not None or bool(result.failures) or _not_ready(result) is not None


def pass_outcome(result: SyncResult) -> PassOutcome:
    if result.failures or (result.error is not None and result.retryable):
        return PassOutcome.FAILED
    if result.error is not None:
        return PassOutcome.REFUSED
    return PassOutcome.UP_TO_DATE if result.up_to_date else PassOutcome.APPLIED


def pass_record(result: SyncResult, trigger: Trigger, started_at: str, duration: float) -> PassRecord:
    plan = result.plan
    changes: tuple[PassChange, ...] = ()
    if plan is not None:
        changes = tuple(
            PassChange(
                c.id,
                c.action.value,
                c.desired.version if c.desired is not None else None,
                result.failures.get(c.id),
            )
            for c in plan.changes
            if c.action is not Action.NOOP
        )
    refusals = tuple(str(d) for d in result.diagnostics if d.severity is Severity.ERROR)
    if plan is not None:
        refusals += plan.refusals
    return PassRecord(
        owner=result.owner,
        trigger=trigger,
        outcome=pass_outcome(result),
        started_at=started_at,
        duration=duration,
        revision=result.revision,
        repo_url=result.repo_url,
        ref=result.ref,
        path=result.path,
        counts=plan.counts if plan is not None else {},
        changes=changes,
        refusals=refusals,
        error=result.error or _not_ready(result),
    )


def _not_ready(result: SyncResult) -> str | None:
    """Why a pass that raised no error left its owner not Ready (a conflict, frozen files)."""
    return next((c.message for c in result.conditions if c.type is ConditionType.STALLED), None)
