"""Events of the embedded engine: emit one, take a batch from the HTTP port, list them.

``emit`` is ``deployctl event emit``; ``ingest`` is the body of ``POST /api/events`` (one
event or a list, all stored or none); ``list_events`` is ``deployctl event ls``. A bad event is
an ``EventError`` from the core, turned here into a ``UsageError`` for the CLI. Times in
filters are ISO-8601 or an age (``30s``, ``15m``, ``2h``, ``7d``: that long ago).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from controller.core.events import Event, EventError, parse_event
from controller.core.runs import iso
from controller.errors import UsageError
from controller.ports import EventFilter, EventStore

TRIGGERED = "trigger "  # the idempotency key of a run a trigger created (core.triggers.firing_key)
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class Events:
    def __init__(self, store: EventStore, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store, self.clock = store, clock

    def emit(
        self,
        name: str,
        resource: dict[str, str],
        related: Sequence[dict[str, str]] = (),
        payload: dict[str, Any] | None = None,
        occurred: str | None = None,
        event_id: str | None = None,
    ) -> Event:
        document: dict[str, Any] = {"event": name, "resource": resource, "related": list(related)}
        document.update({"payload": payload or {}, "occurred": occurred, "id": event_id})
        try:
            event = self._parse(document)
        except EventError as exc:
            raise UsageError(f"event {name!r}: {exc}") from None
        self.store.add([event], iso(self.clock()))
        return event

    def ingest(self, body: bytes) -> list[Event]:
        """The events of a ``POST /api/events`` body, stored in one transaction; ``EventError``
        (nothing stored) when the body or any event in it is not valid."""
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise EventError("the body is not JSON (an event object, or a list of them)") from None
        except RecursionError:
            raise EventError("the body is nested too deeply to read") from None
        documents = document if isinstance(document, list) else [document]
        if not documents:
            raise EventError("the list holds no event")
        events = []
        for index, item in enumerate(documents):
            try:
                events.append(self._parse(item))
            except EventError as exc:
                where = f"event [{index}]: " if isinstance(document, list) else ""
                raise EventError(f"{where}{exc}") from None
        self.store.add(events, iso(self.clock()))
        return events

    def _parse(self, document: Any) -> Event:
        if isinstance(document, dict):
            document = {key: value for key, value in document.items() if value is not None}
        return parse_event(document, str(uuid.uuid4()), iso(self.clock()))

    def list_events(
        self,
        names: Sequence[str] = (),
        resource: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 50,
    ) -> list[Event]:
        selection = EventFilter(tuple(names), resource, self._time(since), self._time(until), limit)
        return self.store.query(selection)

    def _time(self, value: str | None) -> str | None:
        if not value:
            return None
        age = _AGE.match(value.strip())
        if age:
            return iso(self.clock() - timedelta(**{_UNITS[age.group(2)]: float(age.group(1))}))
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise UsageError(
                f"{value!r} is not a time: give ISO-8601 (2026-01-31T09:00:00Z) or an age (30s, 15m, 2h, 7d)"
            ) from None
        return iso(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def parse_labels(pairs: Sequence[str], what: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs as resource labels."""
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{what} {pair!r}: write LABEL=VALUE (prefect.resource.id=my.thing)")
        labels[key.strip()] = value
    return labels


def parse_related(values: Sequence[str]) -> list[dict[str, str]]:
    """Each ``--related``: a JSON object, or comma-separated ``LABEL=VALUE`` pairs."""
    related = []
    for value in values:
        if value.lstrip().startswith("{"):
            try:
                document = json.loads(value)
            except json.JSONDecodeError as exc:
                raise UsageError(f"--related {value!r}: not a JSON object ({exc.msg})") from None
            related.append(document)
        else:
            related.append(parse_labels([p for p in value.split(",") if p], "--related"))
    return related


def parse_payload(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        document = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--payload: not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(document, dict):
        raise UsageError('--payload: a JSON object ({"rows": 3})')
    return document


def last_firings(store: EventStore | None, deployment_id: str, names: Sequence[str]) -> dict[str, Any]:
    """Each trigger of the deployment (by automation name) -> its last firing (when, on which
    event, the run it created or why none was) or None; ``store`` None: nothing recorded yet."""
    prefix = f"{deployment_id}:"
    last: dict[str, Any] = {}
    if store is not None:
        try:
            for firing in store.firings(prefix, limit=10_000):  # newest first
                last.setdefault(firing.trigger.removeprefix(prefix), {
                    "fired_at": firing.fired_at, "event_id": firing.event_id, "run_id": firing.run_id,
                    "outcome": firing.outcome, "message": firing.message,
                })  # fmt: skip
        finally:
            store.close()
    return {name: last.get(name) for name in names}


def cause_of(store: EventStore | None, idempotency_key: str) -> dict[str, Any]:
    """What made a run, for ``flow-run inspect``: the trigger and its firing event (by id alone
    once retention pruned it), from the run's key ``trigger <trigger> <event id>``; of a
    Proactive firing, the window (``trigger <trigger> window <key> <start>``)."""
    rest = idempotency_key.removeprefix(TRIGGERED)
    if " window " in rest:  # a Proactive firing: the window that passed without enough events
        trigger, _, window = rest.partition(" window ")
        return {"trigger": trigger, "window": window}
    trigger, _, event_id = rest.rpartition(" ")
    event = None
    if store is not None:
        try:
            event = store.get(event_id)
        finally:
            store.close()
    return {"trigger": trigger, "event": event.to_json() if event else {"id": event_id, "pruned": True}}
