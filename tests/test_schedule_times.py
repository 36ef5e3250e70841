"""Fire times of cron, interval and rrule schedules, across DST in Berlin and New York."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from controller.core.schedule_times import next_times
from controller.core.spec import ScheduleKind, ScheduleSpec


def local(times: list[datetime], zone: str) -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for t in times]


def cron(expression: str, zone: str, **extra: object) -> ScheduleSpec:
    return ScheduleSpec(ScheduleKind.CRON, zone, cron=expression, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("zone", "start", "end", "expected"),
    [
        (
            "Europe/Berlin",
            datetime(2024, 3, 29, tzinfo=UTC),
            datetime(2024, 4, 2, tzinfo=UTC),
            ["03-29 02:30+0100", "03-30 02:30+0100", "03-31 03:30+0200", "04-01 02:30+0200"],
        ),
        (
            "Europe/Berlin",
            datetime(2024, 10, 25, tzinfo=UTC),
            datetime(2024, 10, 29, tzinfo=UTC),
            ["10-25 02:30+0200", "10-26 02:30+0200", "10-27 02:30+0200", "10-28 02:30+0100"],
        ),
        (
            "America/New_York",
            datetime(2024, 3, 9, 12, tzinfo=UTC),
            datetime(2024, 3, 12, 12, tzinfo=UTC),
            ["03-10 03:30-0400", "03-11 02:30-0400", "03-12 02:30-0400"],
        ),
        (
            "America/New_York",
            datetime(2024, 11, 2, 12, tzinfo=UTC),
            datetime(2024, 11, 5, 12, tzinfo=UTC),
            ["11-03 02:30-0500", "11-04 02:30-0500", "11-05 02:30-0500"],
        ),
    ],
)
def test_daily_cron_in_the_dst_gap_and_overlap_runs_exactly_once(
    zone: str, start: datetime, end: datetime, expected: list[str]
) -> None:
    assert local(next_times(cron("30 2 * * *", zone), start, end, 10), zone) == expected


def test_hourly_cron_across_fall_back_never_doubles() -> None:
    times = next_times(
        cron("0 * * * *", "America/New_York"),
        datetime(2024, 11, 3, 4, tzinfo=UTC),
        datetime(2024, 11, 3, 9, tzinfo=UTC),
        10,
    )
    assert local(times, "America/New_York") == [
        "11-03 00:00-0400",
        "11-03 01:00-0400",
        "11-03 02:00-0500",
        "11-03 03:00-0500",
    ]
    assert len(set(times)) == len(times)


def test_hourly_cron_across_spring_forward_skips_only_the_missing_hour() -> None:
    times = next_times(
        cron("0 * * * *", "Europe/Berlin"),
        datetime(2024, 3, 31, 0, tzinfo=UTC),
        datetime(2024, 3, 31, 3, tzinfo=UTC),
        10,
    )
    assert local(times, "Europe/Berlin") == ["03-31 01:00+0100", "03-31 03:00+0200", "03-31 04:00+0200"]


def test_cron_day_or_false_requires_both_fields() -> None:
    spec = cron("0 9 13 * FRI", "UTC", day_or=False)
    times = next_times(spec, datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC), 10)
    assert [t.strftime("%Y-%m-%d") for t in times] == ["2024-09-13", "2024-12-13"]
    either = next_times(
        cron("0 9 13 * FRI", "UTC"), datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 31, tzinfo=UTC), 10
    )
    assert len(either) == 5  # four Fridays and the 13th


def test_interval_anchor_and_daily_interval_keep_local_time() -> None:
    hourly = ScheduleSpec(
        ScheduleKind.INTERVAL, "UTC", interval_seconds=3600, anchor_date="2024-01-01T00:30:00+00:00"
    )
    times = next_times(
        hourly, datetime(2024, 3, 29, 5, 10, tzinfo=UTC), datetime(2024, 3, 29, 8, tzinfo=UTC), 10
    )
    assert [t.strftime("%H:%M") for t in times] == ["05:30", "06:30", "07:30"]
    daily = ScheduleSpec(
        ScheduleKind.INTERVAL,
        "Europe/Berlin",
        interval_seconds=86400,
        anchor_date="2024-01-01T09:00:00+01:00",
    )
    times = next_times(daily, datetime(2024, 3, 30, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC), 10)
    assert local(times, "Europe/Berlin") == ["03-30 09:00+0100", "03-31 09:00+0200"]


def test_rrule_in_zone_and_with_its_own_dtstart() -> None:
    weekly = ScheduleSpec(
        ScheduleKind.RRULE, "America/New_York", rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=6;BYMINUTE=0"
    )
    times = next_times(weekly, datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 20, tzinfo=UTC), 10)
    assert local(times, "America/New_York") == ["03-04 06:00-0500", "03-11 06:00-0400", "03-18 06:00-0400"]
    pinned = ScheduleSpec(
        ScheduleKind.RRULE, "UTC", rrule="DTSTART:20240301T120000\nRRULE:FREQ=DAILY;INTERVAL=2"
    )
    times = next_times(pinned, datetime(2024, 3, 2, tzinfo=UTC), datetime(2024, 3, 8, tzinfo=UTC), 10)
    assert [t.day for t in times] == [3, 5, 7]


def test_limit_and_window() -> None:
    every_minute = cron("* * * * *", "UTC")
    assert (
        len(next_times(every_minute, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC), 100))
        == 100
    )
    assert (
        next_times(every_minute, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC), 5) == []
    )
