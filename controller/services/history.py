"""History and rollback: what ``deployctl history``, ``deployment history``, ``rollback`` and
``release`` do, and the recorder every pass reports to.

``PassRecorder`` keeps each pass in the backend's ``HistoryStore`` and never fails the pass
(a registry that cannot take the record is logged). ``rollback`` re-applies a revision the
owner applied before through the same reconcile pass and safety checks as ``sync``, holding
the owner there first (so that no controller applies the ref's head in between) and letting
go again if the pass does not apply. Called by the CLI and wired by ``app.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.core.history import Hold, PassOutcome, PassRecord, Trigger
from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult
from controller.errors import Ambiguous, NotFound
from controller.ports import DeploymentStore, HistoryStore, HoldStore, SourceSpec, StatusStore

log = logging.getLogger("deployctl.history")


class PassRecorder:
    """The reconciler's ``history``: opens the store on the first pass, keeps ``keep`` passes
    per owner, and logs (never raises) when the record cannot be kept."""

    def __init__(self, open_store: Callable[[], HistoryStore], keep: int) -> None:
        self._open, self.keep = open_store, keep
        self._store: HistoryStore | None = None

    def __call__(self, record: PassRecord) -> None:
        try:
            if self._store is None:
                self._store = self._open()
            self._store.record_pass(record, self.keep)
        except Exception as exc:  # the pass is what it was, recorded or not
            log.warning("the pass on %s could not be added to the history: %s", record.revision, exc)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def pass_rows(passes: list[PassRecord]) -> list[dict[str, Any]]:
    """``deployctl history``'s table: one line per pass."""
    return [
        {
            "started_at": p.started_at,
            "owner": p.owner,
            "revision": (p.revision or "")[:12] or None,
            "trigger": p.trigger.value,
            "outcome": p.outcome.value,
            "changes": _changes(p.counts),
            "duration": f"{p.duration:.2f}s",
            "error": p.error,
        }
        for p in passes
    ]


def deployment_rows(identity: str, passes: list[PassRecord]) -> list[dict[str, Any]]:
    """``deployctl deployment history``: each pass that wrote ``identity``, with the version
    (the commit that last changed its inputs) it was given."""
    rows = []
    for p in passes:
        for change in p.changes:
            if change.deployment == identity:
                rows.append(
                    {
                        "started_at": p.started_at,
                        "action": change.action,
                        "version": (change.version or "")[:12] or None,
                        "revision": (p.revision or "")[:12] or None,
                        "owner": p.owner,
                        "trigger": p.trigger.value,
                        "outcome": "failed" if change.error else p.outcome.value,
                        "error": change.error,
                    }
                )
    return rows


def _changes(counts: Any) -> str:
    shown = [f"{counts[k]} {k}" for k in ("create", "update", "delete") if counts.get(k)]
    return ", ".join(shown) or "none"


def owner_passes(
    history: HistoryStore, status: StatusStore, owner: str | None, limit: int
) -> list[PassRecord]:
    """The passes of ``owner`` (every owner's when None), newest first; an owner that was never
    synced and has no pass is ``NotFound`` (a misspelt name must not read as a quiet one)."""
    passes = history.list_passes(owner, limit)
    if owner is not None and not passes and status.read_status(owner) is None:
        raise NotFound(
            f"no source has been synced under the owner {owner}: 'deployctl status' lists the owners"
        )
    return passes


def deployment_passes(
    history: HistoryStore, deployments: DeploymentStore, identity: str, limit: int
) -> list[PassRecord]:
    """The passes that wrote ``identity``; one the registry does not hold and no pass wrote is
    ``NotFound``."""
    passes = history.passes_of(identity, limit)
    if not passes and deployments.get_deployment(identity) is None:
        raise NotFound(
            f"no deployment {identity} in the registry or its history: 'deployctl deployment ls' lists them"
        )
    return passes


def applied_revision(owner: str, to: str, passes: list[PassRecord], last_applied: str | None) -> str:
    """The full revision ``to`` names (a commit id or a prefix of one) among those ``owner``
    applied, or why there is none."""
    in_force = (PassOutcome.APPLIED, PassOutcome.UP_TO_DATE)  # a failed pass may have applied nothing
    applied = {p.revision for p in passes if p.revision and p.outcome in in_force}
    applied |= {last_applied} if last_applied else set()
    wanted = to.strip().lower()
    found = sorted(r for r in applied if wanted and r.startswith(wanted)) if len(wanted) >= 4 else []
    if len(found) > 1:
        names = ", ".join(r[:12] for r in found)
        raise Ambiguous(f"{to} names several revisions {owner} applied ({names}): give more digits")
    if not found:
        raise NotFound(
            f"{to or repr(to)} is not a revision {owner} applied (an unknown commit, or one never synced "
            f"to it): give a commit id, or its first 4 or more digits, that 'deployctl history {owner}' "
            "lists (names such as HEAD~1 or main are not taken: they move)"
        )
    return found[0]


@dataclass(frozen=True)
class Rollback:
    result: SyncResult
    head: str | None
    """What the ref pointed at when the rollback ran."""
    hold: Hold | None
    """The hold now in force: the target when the pass applied it, else what was there before."""


def rollback(
    owner: str,
    to: str,
    status: StatusStore,
    history: HistoryStore,
    holds: HoldStore,
    reconciler_of: Callable[[SourceSpec], Reconciler],
    dry_run: bool = False,
    allow_empty: bool = False,
    force_prune: bool = False,
) -> Rollback:
    """Apply ``to`` (a revision ``owner`` applied before) and hold the owner there.
    ``allow_empty`` and ``force_prune``: the safety overrides of ``sync``."""
    found = status.read_status(owner)
    if found is None:
        raise NotFound(
            f"no source has been synced under the owner {owner}: 'deployctl status' lists the owners"
        )
    revision = applied_revision(owner, to, history.list_passes(owner), found.last_applied_revision)
    reconciler = reconciler_of(SourceSpec(found.repo_url, found.ref or None, found.path))
    head = reconciler.source.snapshot().commit  # fetched: the older commit is at hand too
    options = SyncOptions(
        owner=owner,
        revision=revision,
        allow_rewind=True,
        allow_empty=allow_empty,
        force_prune=force_prune,
        dry_run=dry_run,
        trigger=Trigger.ROLLBACK,
    )
    previous = holds.read_hold(owner)
    if dry_run:
        return Rollback(reconciler.reconcile_once(options), head, previous)
    hold = Hold(owner, revision, datetime.now(UTC).isoformat(timespec="seconds"))
    holds.set_hold(owner, hold)
    result = reconciler.reconcile_once(options)
    if result.ok:
        return Rollback(result, head, hold)
    holds.set_hold(owner, previous)
    return Rollback(result, head, previous)


def release(status: StatusStore, holds: HoldStore, owner: str) -> Hold | None:
    """Let the owner follow its ref again; the hold it had, or None (an owner never synced is
    ``NotFound``: a misspelt name must not read as released)."""
    hold = holds.read_hold(owner)
    if hold is None and status.read_status(owner) is None:
        raise NotFound(
            f"no source has been synced under the owner {owner}: 'deployctl status' lists the owners"
        )
    if hold is not None:
        holds.set_hold(owner, None)
    return hold
