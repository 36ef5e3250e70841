"""What a finished pass tells the people who listen: the notice to send, or none. Pure.

``decide_notice`` turns one pass (a ``PassReport``: its outcome as the controller loop classifies
it) and the last notice sent for the same owner into at most one ``Notice``. It sends one
message per (owner, revision, event): a bad commit retried a hundred times is one ``refused``
notice, and the first good pass after a refused or failed one is ``recovered``. Called by
``controller.services.feedback`` after each CI ``sync`` and each controller pass.
``applying_notice`` is the pending commit status of a pass that starts writing: for the forges
only, never a message, never remembered.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass


class Event(enum.Enum):
    APPLIED = "applied"
    REFUSED = "refused"
    FAILED = "failed"
    DRIFT_RESTORED = "drift_restored"
    RECOVERED = "recovered"
    HELD = "held"  # a rollback pinned the owner at an earlier revision
    RELEASED = "released"  # ``deployctl release``: the owner follows its ref again
    APPLYING = "applying"  # a commit status only (pending), never a message


TROUBLE = frozenset({Event.REFUSED, Event.FAILED})
WRITING_ENDS = frozenset({Event.APPLIED, Event.FAILED, Event.RECOVERED, Event.DRIFT_RESTORED})
"""How a pass that started writing can end: a receiver that wants none never hears it is pending."""


@dataclass(frozen=True)
class NoticeKey:
    """What makes two notices the same message: the commit and the event."""

    revision: str | None
    event: Event


@dataclass(frozen=True)
class PassReport:
    """One pass, reduced to what a notice says."""

    owner: str
    revision: str | None
    outcome: str  # the controller loop's Outcome value: applied, up_to_date, refused, failed, reported
    repository: str = ""
    ref: str = ""
    path: str = ""
    changes: int = 0  # deployments written (created, updated, deleted)
    drift: bool = False  # a drift pass, which re-applies the last applied revision
    reason: str = ""  # the Stalled condition's reason (ValidationFailed …), or ""
    message: str = ""  # one line: what happened, or what went wrong and where
    details: tuple[str, ...] = ()  # the problems with their file and line, at most ``MAX_DETAILS``


MAX_DETAILS = 20


@dataclass(frozen=True)
class Notice:
    owner: str
    revision: str | None
    event: Event
    repository: str
    ref: str
    path: str
    reason: str
    message: str
    details: tuple[str, ...]

    @property
    def key(self) -> NoticeKey:
        return NoticeKey(self.revision, self.event)

    @property
    def id(self) -> str:
        """Stable across retries and restarts: a receiver may drop a second delivery by it."""
        text = f"{self.owner}\0{self.revision or ''}\0{self.event.value}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def severity(self) -> str:
        return "error" if self.event in TROUBLE else "info"

    def document(self) -> dict[str, object]:
        """The JSON a generic webhook receives (the timestamp is added when it is queued)."""
        return {
            "id": self.id,
            "owner": self.owner,
            "event": self.event.value,
            "severity": self.severity,
            "revision": self.revision,
            "repository": self.repository,
            "ref": self.ref,
            "path": self.path,
            "reason": self.reason,
            "message": self.message,
            "details": list(self.details),
        }

    def text(self) -> str:
        """One chat message: the headline, then up to five problems."""
        mark = {"error": "\u274c", "info": "\u2705"}[self.severity]
        commit = (self.revision or "")[:12] or "the source"
        where = f"{self.repository} {self.ref}".strip()
        event = self.event.value.replace("_", " ")
        head = f"{mark} deployctl {event}: {commit} of {where} (owner {self.owner})"
        lines = [head, self.message, *(f"• {d}" for d in self.details[:5])]
        return "\n".join(line for line in lines if line)


def decide_notice(report: PassReport, last: NoticeKey | None) -> Notice | None:
    """The notice for ``report`` given the last one sent for its owner, or None."""
    event = _event(report, last)
    if event is None:
        return None
    said = {NoticeKey(report.revision, event)} | (
        {NoticeKey(report.revision, Event.RECOVERED)} if event is Event.APPLIED else set()
    )  # "recovered" said that this revision is applied
    if last in said:
        return None
    return Notice(
        report.owner,
        report.revision,
        event,
        report.repository,
        report.ref,
        report.path,
        report.reason,
        report.message,
        report.details[:MAX_DETAILS],
    )


def hold_notice(owner: str, revision: str, held: bool, message: str, where: tuple[str, str, str]) -> Notice:
    """The notice of a hold (a rollback pinned ``owner`` at ``revision``) or of its release;
    ``where`` is the source's repository, ref and path."""
    event = Event.HELD if held else Event.RELEASED
    return Notice(owner, revision, event, *where, "", message, ())


def applying_notice(report: PassReport) -> Notice:
    """The pending commit status of ``report``'s pass, which has begun to build and write."""
    return Notice(
        report.owner, report.revision, Event.APPLYING, report.repository, report.ref, report.path, "",
        report.message, (),
    )  # fmt: skip


def _event(report: PassReport, last: NoticeKey | None) -> Event | None:
    if report.outcome == "refused":
        return Event.REFUSED
    if report.outcome == "failed":
        return Event.FAILED
    if report.outcome not in ("applied", "up_to_date"):
        return None  # a dry run (suspended, or drift report-only) changes nothing
    if last is not None and last.event in TROUBLE:
        return Event.RECOVERED
    if report.outcome == "applied" and report.changes:
        return Event.DRIFT_RESTORED if report.drift else Event.APPLIED
    return None
