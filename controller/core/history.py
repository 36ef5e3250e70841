"""The history of reconcile passes, and the hold a rollback puts on an owner: pure values.

A ``PassRecord`` is what one pass did, said as it ended: its source and revision, what
started it (``Trigger``), its outcome (what the registry now holds, never what was planned),
the plan's counts, each change with the version it left, the refusals with file and line,
when it started and how long it took. The engine makes them, the backends keep them (a
bounded number per owner), ``deployctl history`` reads them. A ``Hold`` pins an owner to a
rolled-back revision until ``deployctl release``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HISTORY_LIMIT = 1000
"""Passes kept per owner unless ``DEPLOYCTL_HISTORY_LIMIT`` says otherwise."""


class Trigger(enum.Enum):
    CLI = "cli"
    POLL = "poll"
    WEBHOOK = "webhook"
    DRIFT = "drift"
    ROLLBACK = "rollback"


class PassOutcome(enum.Enum):
    APPLIED = "applied"
    UP_TO_DATE = "up_to_date"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True)
class PassChange:
    """One deployment a pass wrote: its action, the version (commit) it was given, and whether
    the write took (``error`` None) or not."""

    deployment: str
    action: str
    version: str | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "action": self.action,
            "version": self.version,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PassChange:
        return cls(data["deployment"], data["action"], data.get("version"), data.get("error"))


@dataclass(frozen=True)
class PassRecord:
    owner: str
    trigger: Trigger
    outcome: PassOutcome
    started_at: str
    """ISO 8601, UTC."""
    duration: float
    """Seconds."""
    revision: str | None = None
    repo_url: str = ""
    ref: str = ""
    path: str = ""
    counts: Mapping[str, int] = field(default_factory=dict)
    changes: tuple[PassChange, ...] = ()
    refusals: tuple[str, ...] = ()
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "trigger": self.trigger.value,
            "outcome": self.outcome.value,
            "started_at": self.started_at,
            "duration": round(self.duration, 3),
            "revision": self.revision,
            "repository": self.repo_url,
            "ref": self.ref,
            "path": self.path,
            "counts": dict(self.counts),
            "changes": [c.to_json() for c in self.changes],
            "refusals": list(self.refusals),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PassRecord:
        return cls(
            data["owner"],
            Trigger(data["trigger"]),
            PassOutcome(data["outcome"]),
            data["started_at"],
            float(data["duration"]),
            data.get("revision"),
            data.get("repository", ""),
            data.get("ref", ""),
            data.get("path", ""),
            dict(data.get("counts") or {}),
            tuple(PassChange.from_json(c) for c in data.get("changes") or ()),
            tuple(data.get("refusals") or ()),
            data.get("error"),
        )


@dataclass(frozen=True)
class Hold:
    """An owner pinned at ``revision`` by a rollback, since ``since`` (ISO 8601): passes of any
    other commit are refused until it is released."""

    owner: str
    revision: str
    since: str

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "since": self.since}


def held_message(hold: Hold, head: str | None) -> str:
    """What a poll, a webhook or a sync of a held owner says instead of applying."""
    at = f"; HEAD is {head[:12]}" if head else ""
    return (
        f"{hold.owner} is held at {hold.revision[:12]}{at}: nothing was applied "
        f"(run 'deployctl release {hold.owner}' to follow the ref again)"
    )
