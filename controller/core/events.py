"""Events, shaped as Prefect's: a name, a resource, related resources, a payload. Pure.

``parse_event`` validates what comes in (``deployctl event emit``, ``POST /api/events``) and
fills ``id`` and ``occurred`` as Prefect's client does; ``flow_run_event`` turns one state
change of the embedded engine into ``prefect.flow-run.<State name>`` as Prefect's server
emits it (``flow_run_state_change_event``): the run count and the state on the resource, the
flow, the deployment and each tag as related resources, the state before and after in the
payload. ``matches`` is Prefect's label matching (``*`` suffix, ``!`` negation). Used by the
event pump, the triggers and the events service.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Resource = dict[str, str]

_NAMESPACE = bytes.fromhex("0f3d51f48f8e4b519d2e5d6b7c1e2a10")
_UUID = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.IGNORECASE)
MAX_NAME = 1024
MAX_RELATED = 500


class EventError(ValueError):
    """What is wrong with an event that came in, said so that the sender can fix it."""


@dataclass(frozen=True)
class Event:
    id: str
    event: str
    occurred: str  # ISO-8601, UTC
    resource: Resource
    related: tuple[Resource, ...] = ()
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def resource_id(self) -> str:
        return self.resource["prefect.resource.id"]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "occurred": self.occurred,
            "resource": dict(self.resource),
            "related": [dict(r) for r in self.related],
            "payload": self.payload,
        }

    def label(self, name: str) -> str | None:
        """A label of the resource or, failing that, of the first related resource carrying it
        (Prefect's ``find_resource_label``: ``related:ROLE:LABEL`` names one role's)."""
        if name.startswith("related:"):
            _, role, label = name.split(":", 2)
            return next((r.get(label) for r in self.related if r.get("prefect.resource.role") == role), None)
        return self.resource.get(name)


def event_from_json(document: Any) -> Event:
    """An event stored or received whole (its ``id`` and ``occurred`` given)."""
    return parse_event(document, "", "")


def parse_event(document: Any, default_id: str, now: str) -> Event:
    """Validate one event as Prefect's ``Event`` model does; ``EventError`` says what is wrong."""
    if not isinstance(document, dict):
        raise EventError("an event is a JSON object")
    unknown = set(document) - {"id", "event", "occurred", "resource", "related", "payload", "received"}
    if unknown:
        raise EventError(
            f"unknown field(s) {', '.join(sorted(unknown))}: an event has event, resource, "
            "related, payload, occurred and id"
        )
    name = document.get("event")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise EventError(f"event: a name of 1 to {MAX_NAME} characters is required (my.thing.happened)")
    resource = _resource(document.get("resource"), "resource")
    related = document.get("related", [])
    if not isinstance(related, list) or len(related) > MAX_RELATED:
        raise EventError(f"related: a list of at most {MAX_RELATED} resources")
    related_resources = tuple(_resource(r, f"related[{i}]", role=True) for i, r in enumerate(related))
    payload = document.get("payload", {})
    if not isinstance(payload, dict):
        raise EventError("payload: a JSON object")
    return Event(
        _event_id(document.get("id"), default_id),
        name,
        _occurred(document.get("occurred"), now),
        resource,
        related_resources,
        payload,
    )


def _resource(value: Any, where: str, role: bool = False) -> Resource:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise EventError(f"{where}: an object of string labels")
    if not value.get("prefect.resource.id"):
        raise EventError(f"{where}: prefect.resource.id is required")
    if role and not value.get("prefect.resource.role"):
        raise EventError(f"{where}: prefect.resource.role is required of a related resource")
    return dict(value)


def _event_id(value: Any, default: str) -> str:
    if value is None and default:
        return default
    if not isinstance(value, str) or not _UUID.match(value):
        raise EventError(f"id: {value!r} is not a UUID")
    return _formatted(bytes.fromhex(value.replace("-", "")))


def _formatted(raw: bytes) -> str:
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _occurred(value: Any, now: str) -> str:
    if value is None and now:
        return now
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise EventError(f"occurred: {value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        raise EventError(f"occurred: {value!r} has no time zone (add Z or +00:00)")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class StateChange:
    """One row of a flow run's state history in the embedded registry, with its run's names."""

    seq: int
    run_id: str
    run_name: str
    flow_name: str
    deployment_id: str
    tags: tuple[str, ...]
    state_type: str
    state_name: str
    message: str
    timestamp: str
    run_count: int = 0  # the run's, when the change was read
    previous: tuple[str, str, str] | None = None  # the state before: type, name, message


def stable_id(*parts: str) -> str:
    """A UUID that is the same wherever it is derived from the same parts (a version-5 UUID)."""
    raw = bytearray(hashlib.sha1(_NAMESPACE + "\0".join(parts).encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50
    raw[8] = (raw[8] & 0x3F) | 0x80
    return _formatted(bytes(raw))


def flow_run_event(change: StateChange, registry: str) -> Event:
    """``prefect.flow-run.<State name>`` for ``change``; its id derives from the registry and the
    history row, so two engines publishing one change store it once."""
    flow_id = stable_id("flow", change.flow_name)
    deployment_name = change.deployment_id.split("/", 1)[-1]
    related = [
        {
            "prefect.resource.id": f"prefect.flow.{flow_id}",
            "prefect.resource.role": "flow",
            "prefect.resource.name": change.flow_name,
        },
        {
            "prefect.resource.id": f"prefect.deployment.{stable_id('deployment', change.deployment_id)}",
            "prefect.resource.role": "deployment",
            "prefect.resource.name": deployment_name,
        },
        *(
            {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
            for tag in change.tags
        ),
    ]
    return Event(
        stable_id("state", registry, str(change.seq)),
        f"prefect.flow-run.{change.state_name}",
        change.timestamp,
        {
            "prefect.resource.id": f"prefect.flow-run.{change.run_id}",
            "prefect.resource.name": change.run_name,
            "prefect.run-count": str(change.run_count),
            "prefect.state-message": change.message,
            "prefect.state-name": change.state_name,
            "prefect.state-timestamp": change.timestamp,
            "prefect.state-type": change.state_type,
        },
        tuple(related),
        {
            "intended": {"from": change.previous[0] if change.previous else None, "to": change.state_type},
            "initial_state": _state_payload(*change.previous) if change.previous else None,
            "validated_state": _state_payload(change.state_type, change.state_name, change.message),
        },
    )


def _state_payload(state_type: str, name: str, message: str) -> dict[str, str]:
    """Prefect's ``state_payload``: the type, and the name and message when there are some."""
    payload = {"type": state_type}
    if name:
        payload["name"] = name
    if message:
        payload["message"] = message
    return payload


def matches(expected: str, value: str | None) -> bool:
    """Prefect's ``matches``: ``!`` negates, a trailing ``*`` matches any suffix."""
    if value is None:
        return False
    positive = not expected.startswith("!")
    expected = expected if positive else expected[1:]
    found = value.startswith(expected[:-1]) if expected.endswith("*") else value == expected
    return found if positive else not found


def resource_matches(spec: Mapping[str, str | list[str]], resource: Mapping[str, str]) -> bool:
    """Every label of ``spec`` matches one of its values (an empty spec matches everything)."""
    for label, wanted in spec.items():
        values = [wanted] if isinstance(wanted, str) else wanted
        if not any(matches(candidate, resource.get(label)) for candidate in values):
            return False
    return True


def includes(spec: Mapping[str, str | list[str]], candidates: Iterable[Mapping[str, str]]) -> bool:
    return not spec or any(resource_matches(spec, c) for c in candidates)
