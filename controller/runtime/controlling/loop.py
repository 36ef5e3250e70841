"""The controller loop: when to check the remote, when to reconcile, when to back off.

Each ``step`` is one tick: if this process is the active writer and a check is due (or a
webhook asked for one), ask the remote which commit the ref points at, and run at most one
pass: a new commit (or a retry) is applied, a refused commit is not tried again. Drift has a
clock of its own: every ``drift_interval``, polls or not, a drift pass re-plans the last
applied revision from the commit at hand (no git fetch) and restores what was changed by hand
in the registry. An owner held at a rolled-back revision (``deployctl rollback``) applies nothing
else: each new head is reported as "held at REV; HEAD is X" until ``deployctl release``, and
drift passes restore the held revision. ``step`` returns how long to wait;
``run`` waits on an event that webhooks and the lease keeper set. One thread runs the passes,
so they never overlap. Called by ``controller.runtime.controlling.service``.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from controller.core.history import Hold, Trigger, held_message
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.errors import DeployctlError, StalledError
from controller.runtime.controlling.metrics import ControllerMetrics
from controller.runtime.controlling.policy import Outcome, Timing, classify, drift_corrections
from controller.runtime.controlling.ports import (
    Clock,
    HoldReader,
    Leadership,
    OwnerControl,
    Reconcile,
    RemoteWatch,
)

log = logging.getLogger("deployctl.controller")
Feedback = Callable[[SyncResult, Outcome, bool], None]
"""Told how each pass ended (result, outcome, whether a drift pass); must return at once."""


@dataclass(frozen=True)
class LoopConfig:
    options: SyncOptions
    timing: Timing = Timing()
    drift: str = "restore"  # "restore", "report-only" or "off"


@dataclass
class LoopState:
    """What /api/status, /readyz and /healthz read; written by the loop thread only."""

    owner: str
    role: str = "starting"
    suspended: bool = False
    held: Hold | None = None
    ready: bool = False
    last_tick: float = 0.0
    remote_head: str | None = None
    done_revision: str | None = None
    refused_revision: str | None = None
    failures: int = 0
    last_error: str | None = None
    last_outcome: str | None = None
    last_result: SyncResult | None = None
    passes: int = 0


class ControllerLoop:
    def __init__(
        self,
        state: LoopState,
        source: RemoteWatch,
        reconciler: Reconcile,
        leadership: Leadership,
        control: OwnerControl,
        config: LoopConfig,
        metrics: ControllerMetrics,
        clock: Clock,
        rng: random.Random | None = None,
        feedback: Feedback | None = None,
        holds: HoldReader | None = None,
    ) -> None:
        self.state, self.source, self.reconciler = state, source, reconciler
        self.leadership, self.control, self.config, self.metrics = leadership, control, config, metrics
        self.clock, self.rng = clock, rng or random.Random()
        self.feedback, self.holds = feedback, holds
        self.timing = config.timing
        self.wake = threading.Event()
        self.lock = threading.Lock()
        self.on_active: Callable[[], None] | None = None
        self._refresh = True
        self._webhook = False  # the refresh was asked for (a webhook, relayed or not)
        self._next_check = self._next_drift = 0.0
        self._reported: str | None = None
        self._held_reported: str | None = None
        self._status_stale = False  # the status says the source failed; a pass must replace that

    def request_refresh(self) -> None:
        """A webhook or a relayed request: check the remote at once. Bursts coalesce into one."""
        self._refresh = self._webhook = True
        self.wake.set()

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            delay = self.step()
            self.wake.wait(max(0.0, delay))
            self.wake.clear()

    def step(self) -> float:
        now = self.clock()
        self.state.last_tick = now
        if not self._is_active():
            return self.timing.interval  # the lease keeper wakes us when that changes
        if self._refresh or now >= self._next_check:
            trigger = Trigger.WEBHOOK if self._webhook else Trigger.POLL
            self._refresh = self._webhook = False
            head = self._remote_head(now)
            if head is not None:
                self._decide(head, now, trigger)
        elif self._drift_due(now):
            self._check_drift(now)
        return max(0.0, self._next_due() - self.clock())

    def _next_due(self) -> float:
        """The next poll, or the next drift pass when that comes first."""
        if self._drift_due(math.inf):  # due at all, if not yet
            return min(self._next_check, self._next_drift)
        return self._next_check

    def _is_active(self) -> bool:
        active = self.leadership.is_active()
        if active and self.state.role != "active" and self.on_active is not None:
            self.on_active()
        self.state.role = "active" if active else "standby"
        self.metrics.up.set(int(active))
        return active

    def _remote_head(self, now: float) -> str | None:
        self.metrics.git_requests.labels("ls-remote").inc()
        try:
            head = self.source.remote_head()
        except DeployctlError as exc:
            self.metrics.git_failures.labels("ls-remote").inc()
            message = self._source_failed(str(exc))
            self._tell(SyncResult(self.state.owner, error=message), Outcome.TRANSIENT, drift=False)
            self._back_off(now, message)
            return None
        self.state.remote_head = head
        return head

    def _source_failed(self, message: str) -> str:
        """Say in the owner's status that the source cannot be read, as a refusal is said; the
        next pass that reads a commit replaces it (a refused one is read again for that)."""
        if self.state.suspended:
            return message  # nothing is applied while suspended, so no pass would clear it
        self._status_stale = True
        return self.reconciler.record_source_failure(self.state.owner, message)

    def _decide(self, head: str, now: float, trigger: Trigger = Trigger.POLL) -> None:
        try:
            self.state.suspended = self.control.suspended()
            self._read_hold()
        except DeployctlError as exc:  # the flag is unreadable: keep the last one known, retry later
            self._back_off(now, f"cannot read the suspend flag or the hold: {exc}")
            return
        hold = self.state.held
        if hold is not None and head != hold.revision:
            self._report_while_held(hold, head, now)
        elif head == self.state.refused_revision and not self._status_stale:
            self._next_check = now + self.timing.next_poll(self.rng)  # tried once; wait for a new commit
        elif self.state.suspended:
            self._report_while_suspended(head, now)
        elif head != self.state.done_revision or self.state.failures:
            self._run_pass(head, replace(self.config.options, trigger=trigger), now)
        else:
            self._next_check = now + self.timing.next_poll(self.rng)
            if self._drift_due(now):
                self._check_drift(now)

    def _read_hold(self) -> None:
        if self.holds is None:
            return
        hold = self.holds.read_hold(self.state.owner)
        with self.lock:
            self.state.held = hold
        self.metrics.held.set(int(hold is not None))
        if hold is not None:  # what is in force, and what a drift pass restores
            self.state.done_revision = hold.revision
            self.state.refused_revision = None

    def _report_while_held(self, hold: Hold, head: str, now: float) -> None:
        """Apply nothing (the held revision is in force: ready); say so once for each new head."""
        self._next_check = now + self.timing.next_poll(self.rng)
        self.state.ready, self.state.failures, self.state.last_error = True, 0, None  # nothing to retry
        if head != self._held_reported:
            self._held_reported = head
            log.info("%s", held_message(hold, head))
        if self._drift_due(now):
            self._check_drift(now)

    def _drift_due(self, now: float) -> bool:
        """A drift pass restores the last applied revision: not while a newer commit is refused
        or failing (its status says so until a commit applies), nor while suspended."""
        state = self.state
        return (
            self.config.drift != "off"
            and state.done_revision is not None
            and not (state.refused_revision or state.failures or state.suspended)
            and now >= self._next_drift
        )

    def _check_drift(self, now: float) -> None:
        revision = self.state.done_revision
        assert revision is not None
        options = replace(
            self.config.options,
            full=True,
            dry_run=self.config.drift == "report-only",
            revision=revision,
            trigger=Trigger.DRIFT,
        )
        started = self.clock()
        result, outcome = self._reconcile(revision, options)
        finished = self.clock()
        self._next_drift = finished + self.timing.drift_interval  # counted from its end
        self.metrics.observe_pass(outcome, finished - started, result, fetched=False)
        self._record(result, outcome, revision, "drift pass")
        if outcome is Outcome.TRANSIENT:
            self._back_off(now, result.error or "the drift pass failed")
        elif not options.dry_run:
            self.metrics.drift.inc(drift_corrections(result))

    def _report_while_suspended(self, head: str, now: float) -> None:
        if head != self._reported:
            self._run_pass(head, replace(self.config.options, dry_run=True), now)
            self._reported = head
        else:
            self._next_check = now + self.timing.next_poll(self.rng)

    def _run_pass(self, head: str, options: SyncOptions, now: float) -> None:
        started = self.clock()
        result, outcome = self._reconcile(head, options)
        self.metrics.observe_pass(outcome, self.clock() - started, result, fetched=True)
        self._record(result, outcome, head, "pass")
        if not options.dry_run:  # a pass that read a commit recorded its own status
            self._status_stale = result.revision is None
        if outcome is Outcome.TRANSIENT:
            self._back_off(now, result.error or "the pass failed")
            return
        self._settle(head, options, result, outcome, now)

    def _record(self, result: SyncResult, outcome: Outcome, head: str, kind: str) -> None:
        with self.lock:
            self.state.passes += 1
            self.state.last_result, self.state.last_outcome = result, outcome.value
        error = f" ({result.error})" if result.error else ""
        log.info("%s on %s: %s%s", kind, (result.revision or head)[:12], outcome.value, error)
        self._tell(result, outcome, drift=kind == "drift pass")

    def _tell(self, result: SyncResult, outcome: Outcome, drift: bool) -> None:
        if self.feedback is not None:
            self.feedback(result, outcome, drift)

    def _reconcile(self, head: str, options: SyncOptions) -> tuple[SyncResult, Outcome]:
        owner = self.state.owner
        try:
            result = self.reconciler.reconcile_once(replace(options, owner=options.owner or owner))
        except StalledError as exc:
            return SyncResult(owner, revision=head, error=str(exc)), Outcome.REFUSED
        except Exception as exc:  # the loop outlives any one pass: a bug in a pass is retried, logged
            if not isinstance(exc, DeployctlError):
                log.exception("the pass on %s failed unexpectedly", head[:12])
            return SyncResult(owner, error=str(exc), retryable=True), Outcome.TRANSIENT
        return result, classify(result, options.dry_run)

    def _settle(
        self, head: str, options: SyncOptions, result: SyncResult, outcome: Outcome, now: float
    ) -> None:
        revision = result.revision or head
        self.state.failures, self.state.last_error = 0, result.error
        self._next_check = now + self.timing.next_poll(self.rng)
        if outcome is Outcome.REFUSED:
            self.state.refused_revision = revision
        elif not (options.dry_run and not options.full):  # a drift report counts; a suspended preview not
            self.state.done_revision, self.state.refused_revision = revision, None
            self._next_drift = self.clock() + self.timing.drift_interval  # counted from its end
        if not options.dry_run:
            self.metrics.drift.inc(drift_corrections(result))
        self.state.ready = self.state.ready or outcome is not Outcome.REPORTED or options.full

    def _back_off(self, now: float, error: str) -> None:
        self.state.failures += 1
        self.state.last_error = error
        self._next_check = now + self.timing.backoff(self.state.failures, self.rng)
        log.warning(
            "retrying in %.1f s after failure %d: %s", self._next_check - now, self.state.failures, error
        )

    def describe(self) -> dict[str, Any]:
        with self.lock:
            state = replace(self.state)
        result = state.last_result
        return {
            "owner": state.owner,
            "role": state.role,
            "suspended": state.suspended,
            "held": state.held.to_json() if state.held else None,
            "held_message": held_message(state.held, state.remote_head) if state.held else None,
            "ready": state.ready,
            "remote_head": state.remote_head,
            "applied_revision": state.done_revision,
            "refused_revision": state.refused_revision,
            "consecutive_failures": state.failures,
            "last_error": state.last_error,
            "last_outcome": state.last_outcome,
            "passes": state.passes,
            "last_conditions": [c.to_json() for c in result.conditions] if result else [],
        }
