"""Reactive event triggers, evaluated as Prefect's server evaluates them. Pure.

A ``Trigger`` is one entry of a deployment's ``triggers:`` (the record ``trigger_record``
keeps). ``react`` takes the trigger's open bucket for the event's ``for_each`` key and one
event, and returns the bucket to keep and whether the trigger fired, following
``prefect.server.events.triggers``: an ``after`` event opens a bucket of ``within``; an
``expect``ed event counts in the open bucket; a Reactive trigger fires as soon as the count
reaches ``threshold`` and then waits for the rest of its window (``within: 0`` fires on every
event). The bucket's time is the events' ``occurred``, never a clock, so a replay decides the
same. A Proactive trigger fires when its window passes with fewer than ``threshold``
``expect``ed events (``expire``, on the engine's clock). Compound, sequence and metric triggers
are not run here (``EMBEDDED_KINDS``; plan refuses them).
Called by ``controller.runtime.events``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.core.events import Event, includes, matches

LOOKBACK = timedelta(minutes=15)
"""How far before a first event a new bucket starts (Prefect's ``PRECEDING_EVENT_LOOKBACK``),
so that events arriving out of order still count."""


@dataclass(frozen=True)
class DeclaredTriggers:
    """A deployment's ``triggers:`` as the registry holds them, with what a firing run needs."""

    deployment_id: str
    flow_name: str
    snapshot: str
    work_queue_name: str
    parameters: dict[str, Any]
    paused: bool
    triggers: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Bucket:
    start: str
    end: str
    count: int
    last_event: str | None = None


@dataclass(frozen=True)
class FiringRecord:
    """One firing: the run it created (or why none was), under its idempotency key."""

    trigger: str
    key: str
    event_id: str
    fired_at: str
    run_id: str | None
    outcome: str  # "run" | "rate-limited" | "template-error" | "deployment-gone"
    message: str = ""


@dataclass(frozen=True)
class Trigger:
    id: str
    deployment_id: str
    name: str
    enabled: bool = True
    match: Mapping[str, str | list[str]] = field(default_factory=dict)
    match_related: tuple[Mapping[str, str | list[str]], ...] = ()
    after: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()
    for_each: tuple[str, ...] = ()
    posture: str = "Reactive"
    threshold: int = 1
    within: timedelta = timedelta(0)
    parameters: dict[str, Any] | None = None
    schedule_after: timedelta = timedelta(0)

    @property
    def immediate(self) -> bool:
        return self.posture == "Reactive" and not self.within

    def covers(self, event: Event) -> bool:
        names = (*self.expect, *self.after) if self.expect else ()
        if names and not any(_glob(pattern, event.event) for pattern in names):
            return False
        if not includes(self.match, [event.resource]):
            return False
        return all(includes(spec, event.related) for spec in self.match_related)

    def expects(self, name: str) -> bool:
        return not self.expect or any(matches(candidate, name) for candidate in self.expect)

    def starts_after(self, name: str) -> bool:
        return any(matches(candidate, name) for candidate in self.after)

    def bucketing_key(self, event: Event) -> str:
        return json.dumps([event.label(label) or "" for label in sorted(self.for_each)])


def _glob(pattern: str, name: str) -> bool:
    """Prefect's ``event_pattern``: ``*`` matches one or more characters, anchored at the start."""
    return re.match(re.escape(pattern).replace("\\*", ".+"), name) is not None


TRIGGER_KINDS = {
    "reactive": "Reactive event triggers",
    "proactive": "Proactive event triggers",
    "compound": "compound triggers",
    "sequence": "sequence triggers",
    "metric": "metric triggers",
}
EMBEDDED_KINDS = frozenset({"reactive", "proactive"})
"""What the embedded engine runs (``Capabilities.trigger_kinds``)."""


def trigger_kind(record: Mapping[str, Any]) -> str:
    """One of ``TRIGGER_KINDS`` for a record of ``DeploymentSpec.triggers``."""
    trigger = record.get("trigger", {})
    kind = str(trigger.get("type", "event"))
    if kind == "event":
        return "proactive" if trigger.get("posture") == "Proactive" else "reactive"
    return kind


def trigger_of(deployment_id: str, record: Mapping[str, Any]) -> Trigger:
    """The ``Trigger`` of one record of ``DeploymentSpec.triggers`` (an event trigger)."""
    inner = record["trigger"]
    related = inner.get("match_related") or {}
    return Trigger(
        id=f"{deployment_id}:{record['name']}",
        deployment_id=deployment_id,
        name=str(record["name"]),
        enabled=bool(record.get("enabled", True)),
        match=inner.get("match") or {},
        match_related=tuple(related if isinstance(related, list) else [related]),
        after=tuple(inner.get("after") or ()),
        expect=tuple(inner.get("expect") or ()),
        for_each=tuple(inner.get("for_each") or ()),
        posture=str(inner.get("posture", "Reactive")),
        threshold=int(inner.get("threshold", 1)),
        within=timedelta(seconds=float(inner.get("within") or 0)),
        parameters=record.get("parameters"),
        schedule_after=timedelta(seconds=float(record.get("schedule_after") or 0)),
    )


def react(trigger: Trigger, stored: Bucket | None, event: Event) -> tuple[Bucket | None, Bucket | None]:
    """The bucket to keep for this event's key, and the bucket that fired (None: no firing)
    (``prefect.server.events.triggers.reactive_evaluation``)."""
    at = _time(event.occurred)
    bucket = None
    if trigger.after and trigger.starts_after(event.event):
        # an event both in after and expect opens at -1, so that it does not count itself
        bucket = stored or _bucket(at, at + trigger.within, -1 if trigger.expects(event.event) else 0, event)
    if bucket is None and not trigger.after and trigger.expects(event.event):
        bucket = stored or _bucket(at - LOOKBACK, at + trigger.within, 0, event)
    if not trigger.expects(event.event):
        return bucket, None
    bucket = bucket or stored
    if bucket is None:
        return None, None
    return _evaluate(trigger, bucket, at, event)


def expire(trigger: Trigger, bucket: Bucket, now: datetime) -> tuple[Bucket | None, Bucket | None]:
    """A Proactive trigger's bucket looked at without an event at ``now``: it fires when its
    window has passed with fewer than ``threshold`` events (``proactive_evaluation``)."""
    return _evaluate(trigger, bucket, now, None)


def _evaluate(
    trigger: Trigger, bucket: Bucket, now: datetime, event: Event | None
) -> tuple[Bucket | None, Bucket | None]:
    start, end = _time(bucket.start), _time(bucket.end)
    if now < start:  # late, or inside the rest of a window that already fired
        return bucket, None
    unspent = event is not None
    if event is not None and (trigger.immediate or start <= now < end):
        bucket, unspent = replace(bucket, count=bucket.count + 1, last_event=event.id), False
    reactive = trigger.posture == "Reactive"
    met = bucket.count >= trigger.threshold if reactive else bucket.count < trigger.threshold
    fired = bucket if met and (reactive or end <= now) else None
    if fired is None and now < end:
        if (
            event is not None
            and not reactive
            and trigger.starts_after(event.event)
            and trigger.expects(event.event)
        ):
            return _bucket(now, now + trigger.within, 0, event), None  # a new window from this event
        return bucket, None
    if trigger.after or not trigger.within:
        return None, fired
    next_start = max(end, now)
    following = _bucket(next_start, next_start + trigger.within, 0, None)
    if unspent and reactive:  # an event past the window counts in the next one, which it may fill at once
        kept, again = _evaluate(trigger, following, now, event)
        return kept, fired or again
    return replace(following, count=int(unspent)), fired


def _bucket(start: datetime, end: datetime, count: int, event: Event | None) -> Bucket:
    return Bucket(_iso(start), _iso(end), count, event.id if event else None)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def firing_key(trigger: Trigger, event: Event | None, key: str = "", window: Bucket | None = None) -> str:
    """The idempotency key of the run a firing creates: the trigger and its firing event (or,
    for a Proactive firing, the window that passed without it), so a replay, a restart or a
    second engine finds the run made already. ``services.events.cause_of`` reads it back."""
    if trigger.posture == "Proactive":
        assert window is not None
        return f"trigger {trigger.id} window {key} {window.start}"
    assert event is not None
    return f"trigger {trigger.id} {event.id}"


def rate_exceeded(firings_in_window: int, limit: int) -> bool:
    return limit > 0 and firings_in_window >= limit


def active_triggers(declared: Sequence[DeclaredTriggers]) -> list[tuple[DeclaredTriggers, Trigger]]:
    """The enabled triggers the embedded engine runs. A paused deployment's fire too: Prefect's
    run-deployment action does not look at the pause, which stops its schedules."""
    out = []
    for deployment in declared:
        for record in deployment.triggers:
            if trigger_kind(record) in EMBEDDED_KINDS and record.get("enabled", True):
                out.append((deployment, trigger_of(deployment.deployment_id, record)))
    return out


class TriggerIndex:
    """The active triggers by the exact ``prefect.resource.id`` values they match, so that an
    event is checked against its resource's triggers and those matching by pattern, not all."""

    def __init__(self, active: Sequence[tuple[DeclaredTriggers, Trigger]]) -> None:
        self.by_resource: dict[str, list[tuple[DeclaredTriggers, Trigger]]] = {}
        self.others: list[tuple[DeclaredTriggers, Trigger]] = []
        self._all = list(active)
        for pair in active:
            wanted = pair[1].match.get("prefect.resource.id")
            values = [wanted] if isinstance(wanted, str) else list(wanted or [])
            if values and not any(v.endswith("*") or v.startswith("!") for v in values):
                for value in dict.fromkeys(values):
                    self.by_resource.setdefault(value, []).append(pair)
            else:
                self.others.append(pair)

    @property
    def proactive(self) -> list[tuple[DeclaredTriggers, Trigger]]:
        return [pair for pair in self._all if pair[1].posture == "Proactive"]

    def covering(self, event: Event) -> list[tuple[DeclaredTriggers, Trigger]]:
        candidates = [*self.by_resource.get(event.resource_id, ()), *self.others]
        return [pair for pair in candidates if pair[1].covers(event)]
