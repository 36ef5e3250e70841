"""The pure decision of what a pass tells its receivers: one message per (owner, revision, event)."""

from __future__ import annotations

import pytest

from controller.core.notices import Event, NoticeKey, PassReport, decide_notice


def report(
    outcome: str, revision: str | None = "a" * 40, changes: int = 0, drift: bool = False
) -> PassReport:
    return PassReport("team", revision, outcome, changes=changes, drift=drift, message="why")


@pytest.mark.parametrize(
    ("outcome", "changes", "drift", "last", "event"),
    [
        ("applied", 2, False, None, Event.APPLIED),
        ("applied", 0, False, None, None),  # wrote nothing: nothing to say
        ("up_to_date", 0, False, None, None),
        ("applied", 1, True, None, Event.DRIFT_RESTORED),
        ("refused", 0, False, None, Event.REFUSED),
        ("failed", 0, False, None, Event.FAILED),
        ("reported", 3, False, None, None),  # a dry run while suspended
        ("applied", 1, False, NoticeKey("b" * 40, Event.REFUSED), Event.RECOVERED),
        ("up_to_date", 0, False, NoticeKey(None, Event.FAILED), Event.RECOVERED),
        ("applied", 1, False, NoticeKey("b" * 40, Event.RECOVERED), Event.APPLIED),
    ],
)
def test_each_outcome_is_one_event(
    outcome: str, changes: int, drift: bool, last: NoticeKey | None, event: Event | None
) -> None:
    notice = decide_notice(report(outcome, changes=changes, drift=drift), last)
    assert (notice.event if notice else None) is event


def test_a_bad_commit_retried_a_hundred_times_is_one_notice() -> None:
    last, sent = None, []
    for _ in range(100):
        notice = decide_notice(report("refused"), last)
        if notice is not None:
            sent.append(notice)
            last = notice.key
    assert [n.event for n in sent] == [Event.REFUSED]
    assert decide_notice(report("refused", revision="c" * 40), last) is not None  # a new bad commit is news
    recovered = decide_notice(report("applied", changes=1), last)
    assert recovered is not None and recovered.event is Event.RECOVERED
    assert decide_notice(report("applied", changes=1), recovered.key) is None


def test_the_notice_id_is_stable_and_the_document_says_what_a_receiver_needs() -> None:
    one = decide_notice(report("refused"), None)
    again = decide_notice(report("refused"), None)
    assert one is not None and again is not None and one.id == again.id
    doc = one.document()
    assert doc["event"] == "refused" and doc["severity"] == "error" and doc["owner"] == "team"
    assert doc["revision"] == "a" * 40 and doc["message"] == "why"
    assert one.text().splitlines()[0].startswith("\u274c deployctl refused: aaaaaaaaaaaa")
