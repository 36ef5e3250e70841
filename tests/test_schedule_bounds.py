"""Schedules are bounded: rrule evaluation looks a bounded window ahead, skips distant DTSTARTs
by whole periods without changing any fire time, and a rule that never fires yields nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil import rrule as dateutil_rrule

from controller.core.schedule_times import iter_times, next_times, rrule_fires
from controller.core.spec import ScheduleKind, ScheduleSpec

AFTER = datetime(2026, 3, 20, 12, 34, 56, tzinfo=UTC)


def rule(text: str) -> ScheduleSpec:
    return ScheduleSpec(ScheduleKind.RRULE, "UTC", rrule=text)


@pytest.mark.parametrize(
    "text",
    [
        "DTSTART:20260301T000007\nRRULE:FREQ=SECONDLY;INTERVAL=90",
        "FREQ=MINUTELY;INTERVAL=7;BYHOUR=9,17",
        "FREQ=HOURLY;INTERVAL=5;BYMINUTE=15",
        "FREQ=DAILY;INTERVAL=3;BYHOUR=4",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH",
        "DTSTART:20210305T101010\nRRULE:FREQ=MINUTELY;INTERVAL=13",
        "FREQ=MONTHLY;BYMONTHDAY=-1;BYHOUR=23",
    ],
)
def test_skipping_a_distant_dtstart_keeps_every_fire_time(text: str) -> None:
    """dateutil walking the whole way from DTSTART is the oracle."""
    full = dateutil_rrule.rrulestr(text, dtstart=datetime(2020, 1, 1), cache=False)
    naive_after = AFTER.replace(tzinfo=None)
    until = AFTER + timedelta(days=400)
    expected = [t.replace(tzinfo=UTC) for t in full.xafter(naive_after, count=20, inc=True)]
    assert next_times(rule(text), AFTER, until, 20) == [t for t in expected if t < until]


def test_count_is_accepted_and_ends_the_series() -> None:
    text = "DTSTART:20260320T000000\nRRULE:FREQ=DAILY;COUNT=3"
    times = next_times(rule(text), datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC), 10)
    assert [t.day for t in times] == [20, 21, 22]


def test_a_rule_that_never_fires_yields_nothing_and_is_known_not_to() -> None:
    text = "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30"
    assert not rrule_fires(text)
    assert list(iter_times(rule(text), AFTER)) == []
    assert rrule_fires("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")


def test_a_sparse_rule_is_looked_for_only_within_the_window() -> None:
    sparse = rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO")  # 2044, then 2072
    assert next_times(sparse, AFTER, AFTER + timedelta(days=100), 5) == []
    found = next_times(sparse, AFTER, datetime(2045, 1, 1, tzinfo=UTC), 5)
    assert found == [datetime(2044, 2, 29, tzinfo=UTC)]


def test_an_interval_past_the_calendar_ends_the_series() -> None:
    late = ScheduleSpec(
        ScheduleKind.INTERVAL,
        "Pacific/Kiritimati",
        interval_seconds=86400.0 * 365,
        anchor_date="9998-06-01T00:00:00+00:00",
    )
    near_the_end = datetime(9997, 1, 1, tzinfo=UTC)  # the grid runs before its anchor too
    assert [t.year for t in iter_times(late, near_the_end)] == [9997, 9998, 9999]
