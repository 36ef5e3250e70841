"""The event pump of the embedded engine: state changes become events, events fire triggers.

One ``tick`` is four steps, each in one transaction of the event store: ``publish`` turns the
registry's new flow-run state changes into ``prefect.flow-run.*`` events; ``evaluate`` runs
the new events through the deployments' triggers (``controller.core.triggers``) and creates
one run per firing, under an idempotency key of the trigger and the event (a Proactive one:
the window), so a restart, a replay or a second engine finds the run made already; ``expire``
fires the Proactive triggers whose window passed with too few events; ``prune`` keeps the
store within its retention now and then. A trigger that fires more than ``rate_limit`` times in
``rate_window`` (a deployment that triggers itself) is suppressed, logged, and reported as a
``deployctl.trigger.rate-limited`` event. The loop around it is ``controller.runtime.loops``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from controller.core.event_templates import TemplateError, render_parameters
from controller.core.events import Event, flow_run_event, stable_id
from controller.core.runs import iso
from controller.core.triggers import (
    Bucket,
    DeclaredTriggers,
    FiringRecord,
    Trigger,
    TriggerIndex,
    active_triggers,
    expire,
    firing_key,
    rate_exceeded,
    react,
)
from controller.ports import EventStore, NewRun, RunStore, StateFeed, TriggerBook

log = logging.getLogger("deployctl.events")
Active = tuple[DeclaredTriggers, Trigger]  # a trigger the engine runs, and its deployment
PUBLISHED = "flow-run-states"
EVALUATED = "triggers"
RATE_LIMITED = "deployctl.trigger.rate-limited"


@dataclass(frozen=True)
class EventSettings:
    """Retention (``DEPLOYCTL_EVENTS_RETENTION_DAYS``, ``DEPLOYCTL_EVENTS_MAX``) and the per-trigger
    rate (``DEPLOYCTL_TRIGGER_RATE`` firings per minute)."""

    retention: timedelta = timedelta(days=7)
    max_events: int = 1_000_000
    rate_limit: int = 10
    rate_window: timedelta = timedelta(minutes=1)
    batch: int = 1000
    interval: float = 0.1
    prune_every: float = 600.0


@dataclass
class PumpTick:
    published: int = 0
    evaluated: int = 0
    fired: int = 0
    suppressed: int = 0


class EventPump:
    def __init__(
        self,
        feed: StateFeed,
        events: EventStore,
        runs: RunStore,
        settings: EventSettings = EventSettings(),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.feed, self.events, self.runs, self.settings, self.clock = feed, events, runs, settings, clock
        self._pruned_at = float("-inf")
        self._indexed: tuple[list[DeclaredTriggers], TriggerIndex] | None = None
        self._next_look: dict[str, datetime] = {}  # Proactive trigger -> when to look at it again

    def close(self) -> None:
        for part in (self.feed, self.events, self.runs):
            part.close()

    def tick(self) -> PumpTick:
        result = PumpTick(published=self.publish())
        self.evaluate(result)
        self.expire(result)
        if time.monotonic() - self._pruned_at >= self.settings.prune_every:
            self.prune()
        return result

    def publish(self) -> int:
        """Store an event for each state change since the last batch (the first time: those within
        the retention period)."""
        last = self.feed.last_change()
        seen = self.events.cursor(PUBLISHED)
        if seen is not None and seen >= last:
            return 0
        with self.events.book() as book:
            seen = book.cursor(PUBLISHED)
            if seen is None:
                seen = self.feed.changes_before(iso(self.clock() - self.settings.retention))
            changes = self.feed.changes_after(seen, self.settings.batch)
            if not changes:
                book.set_cursor(PUBLISHED, seen)
                return 0
            received = iso(self.clock())
            added = book.add([flow_run_event(c, self.feed.location) for c in changes], received)
            book.set_cursor(PUBLISHED, changes[-1].seq)
            return added

    def evaluate(self, result: PumpTick) -> None:
        """Run the events stored since the last batch through the active triggers (the first time:
        none; what was recorded before the engine first ran is history, not news)."""
        seen = self.events.cursor(EVALUATED)
        if seen is not None and seen >= self.events.last_seq():
            return
        triggers = self._index()
        with self.events.book() as book:
            seen = book.cursor(EVALUATED)
            if seen is None:  # the first time: triggers react to what is recorded from now on
                book.set_cursor(EVALUATED, self.events.last_seq())
                return
            batch = book.events_after(seen, self.settings.batch)
            for _, event in batch:
                for active in triggers.covering(event):
                    self._react(book, active, event, result)
            if batch:
                book.set_cursor(EVALUATED, batch[-1][0])
            result.evaluated += len(batch)

    def _index(self) -> TriggerIndex:
        """The active triggers, indexed again only when the registry's declarations changed."""
        declared = self.feed.declared_triggers()
        if self._indexed is None or self._indexed[0] is not declared:
            self._indexed = (declared, TriggerIndex(active_triggers(declared)))
        return self._indexed[1]

    def _react(self, book: TriggerBook, active: Active, event: Event, result: PumpTick) -> None:
        trigger = active[1]
        key = trigger.bucketing_key(event)
        bucket, fired = react(trigger, book.bucket(trigger.id, key), event)
        book.put_bucket(trigger.id, key, bucket)
        if fired is not None:
            self._fire(book, active, event, key, fired, result)

    def expire(self, result: PumpTick) -> None:
        """Proactive triggers: each window that passed with too few events fires
        (``prefect.server.events.triggers.proactive_evaluation``), when it is due."""
        now = self.clock()
        due = [a for a in self._index().proactive if self._next_look.get(a[1].id, now) <= now]
        if not due:
            return
        with self.events.book() as book:
            for active in due:
                self._next_look[active[1].id] = self._expire(book, active, now, result)

    def _expire(self, book: TriggerBook, active: Active, now: datetime, result: PumpTick) -> datetime:
        trigger = active[1]
        look_again = now + trigger.within
        if not trigger.for_each and book.bucket(trigger.id, "[]") is None:
            book.put_bucket(trigger.id, "[]", Bucket(iso(now), iso(now + trigger.within), 0))
        for key, bucket in book.buckets(trigger.id):
            if bucket.count >= trigger.threshold:  # enough events came: this window cannot fire
                book.put_bucket(trigger.id, key, None)
                continue
            kept, fired = expire(trigger, bucket, now)
            book.put_bucket(trigger.id, key, kept)
            if fired is not None:
                last = self.events.get(fired.last_event) if fired.last_event else None
                self._fire(book, active, last, key, fired, result)
            if kept is not None:
                look_again = min(look_again, datetime.fromisoformat(kept.end))
        return look_again

    def _fire(
        self,
        book: TriggerBook,
        active: Active,
        event: Event | None,
        key: str,
        window: Bucket,
        result: PumpTick,
    ) -> None:
        """One run for a firing on ``event`` (Reactive) or for ``window`` (Proactive; ``event``
        is the window's last one, if any)."""
        deployment, trigger = active
        now = self.clock()
        run_key = firing_key(trigger, event, key, window)
        event_id = event.id if event else ""
        record = FiringRecord(trigger.id, run_key, event_id, iso(now), None, "run")
        if rate_exceeded(
            book.firings_since(trigger.id, iso(now - self.settings.rate_window)), self.settings.rate_limit
        ):
            result.suppressed += 1
            self._suppress(book, trigger, event, record)
            return
        try:
            parameters = {**deployment.parameters, **render_parameters(trigger.parameters or {}, event)}
        except TemplateError as exc:
            log.warning("trigger %s: parameters not rendered, no run: %s", trigger.id, exc)
            book.record_firing(replace(record, outcome="template-error", message=str(exc)))
            return
        run = self.runs.create_run(
            NewRun(
                deployment.deployment_id,
                deployment.flow_name,
                deployment.snapshot,
                parameters,
                deployment.work_queue_name,
                iso(now + trigger.schedule_after),
                idempotency_key=run_key,
            ),
            iso(now),
        )
        book.record_firing(replace(record, run_id=run.id))
        result.fired += 1
        log.info("trigger %s fired (%s): flow run %s", trigger.id, run_key, run.id)

    def _suppress(
        self, book: TriggerBook, trigger: Trigger, event: Event | None, record: FiringRecord
    ) -> None:
        limit, window = self.settings.rate_limit, self.settings.rate_window.total_seconds()
        message = (
            f"fired {limit} times in {window:.0f} s (a deployment that triggers itself?): "
            "no run for this firing"
        )
        log.warning("trigger %s rate-limited (%s): %s", trigger.id, record.key, message)
        book.record_firing(replace(record, outcome="rate-limited", message=message))
        if event is not None and event.event == RATE_LIMITED:  # never a report of a report
            return
        related = (
            (
                {
                    "prefect.resource.id": f"deployctl.event.{event.id}",
                    "prefect.resource.role": "triggering-event",
                },
            )
            if event
            else ()
        )
        report = Event(
            stable_id("rate-limited", record.key),
            RATE_LIMITED,
            record.fired_at,
            {"prefect.resource.id": f"deployctl.trigger.{trigger.id}", "prefect.resource.name": trigger.name},
            related,
            {"limit": limit, "window_seconds": window, "message": message},
        )
        book.add([report], record.fired_at)

    def prune(self) -> int:
        self._pruned_at = time.monotonic()
        before = iso(self.clock() - self.settings.retention)
        gone = self.events.prune(before, self.settings.max_events)
        if gone:
            log.info(
                "events: %d pruned (older than %s, or beyond %d)", gone, before, self.settings.max_events
            )
        return gone
