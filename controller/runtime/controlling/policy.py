"""What the controller loop does after a pass, and how long it waits: pure decisions, no I/O.

A pass ends in one of five ways. ``DONE``: the commit is in force (possibly degraded: a
conflict, frozen files), nothing to retry. ``UP_TO_DATE``: nothing had changed. ``TRANSIENT``:
the error that failed the pass is ``retryable`` (``controller.errors``: git or registry
unreachable, a registry that moved, failed writes); the loop backs off exponentially, capped at
the interval, and tries the same commit again. ``REFUSED``: any other error (invalid manifests,
an unsafe prune, a rewritten branch, deployctl's or the server's configuration); the commit is
tried once and not again until a new commit arrives or a refresh is asked for. ``REPORTED``: a
dry run (suspended, or drift in report-only mode) that changed nothing.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from controller.core.plan import Action, Cause
from controller.core.state import ConditionType, Reason
from controller.engine.reconciler import SyncResult


class Outcome(enum.Enum):
    DONE = "applied"
    UP_TO_DATE = "up_to_date"
    REFUSED = "refused"
    TRANSIENT = "failed"
    REPORTED = "reported"


def classify(result: SyncResult, dry_run: bool = False) -> Outcome:
    if result.up_to_date and result.error is None:
        return Outcome.UP_TO_DATE
    if result.error is None and not result.failures:
        return Outcome.REPORTED if dry_run else Outcome.DONE
    return Outcome.TRANSIENT if result.retryable else Outcome.REFUSED


def stalled_reason(result: SyncResult) -> Reason | None:
    return next((c.reason for c in result.conditions if c.type is ConditionType.STALLED), None)


def drift_corrections(result: SyncResult) -> int:
    if result.plan is None:
        return 0
    return sum(1 for c in result.plan.changes if c.cause is Cause.DRIFT and c.action is not Action.NOOP)


@dataclass(frozen=True)
class Timing:
    interval: float = 60.0
    drift_interval: float = 300.0
    jitter: float = 0.1
    backoff_base: float = 1.0

    def next_poll(self, rng: random.Random) -> float:
        return self.interval * (1 + rng.uniform(-self.jitter, self.jitter))

    def backoff(self, failures: int, rng: random.Random) -> float:
        """1, 2, 4 … times the base after 1, 2, 3 … failures in a row, never past the interval."""
        delay = min(self.interval, self.backoff_base * 2.0 ** max(0, failures - 1))
        return delay * (1 + rng.uniform(-self.jitter, 0))


def deployment_statuses(result: SyncResult, outcome: Outcome) -> dict[str, int] | None:
    """How many deployments the last pass left synced, out of sync, failed or frozen; None when
    it does not know (no plan, nothing read: the last counts stand). A refused commit leaves
    the registry's deployments frozen at the last applied revision, counted from the registry."""
    counts = dict.fromkeys(("synced", "out_of_sync", "failed", "frozen"), 0)
    if result.plan is None:
        if result.in_force is None:
            return None
        return counts | {"frozen": result.in_force}
    pending = outcome in (Outcome.REFUSED, Outcome.REPORTED, Outcome.TRANSIENT)
    for change in result.plan.changes:
        if change.id in result.failures:
            counts["failed"] += 1
        elif change.action is Action.DELETE and not pending:
            continue  # gone
        elif change.action is Action.NOOP or not pending:
            counts["synced"] += 1
        else:
            counts["out_of_sync"] += 1
    counts["synced"] += result.plan.unchanged  # untouched by the commit: counted, not listed
    counts["frozen"] = len(result.plan.frozen)
    return counts
