"""Interval schedules on Prefect's grid: before a future anchor, and intervals over a day.

Prefect's own times are checked by tests/oracle/test_schedule_oracle.py when its virtualenv
is at hand; these pin the same behaviour without it, plus the anchor deployctl gives an
interval that has none (a documented difference from Prefect, which anchors at deploy time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from controller.core.schedule_times import next_times
from controller.core.spec import ScheduleKind, ScheduleSpec
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.conftest import FLOW_SOURCE, minimal_deployment, write_tree


def interval(seconds: float, anchor: str, zone: str = "Europe/Berlin") -> ScheduleSpec:
    return ScheduleSpec(ScheduleKind.INTERVAL, zone, interval_seconds=seconds, anchor_date=anchor)


def local(times: list[datetime], zone: str = "Europe/Berlin") -> list[str]:
    return [t.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M%z") for t in times]


def test_a_future_anchor_fires_before_it_on_its_grid() -> None:
    after = datetime(2026, 3, 27, 0, 5, tzinfo=UTC)
    hourly = next_times(interval(3600, "2027-06-01T05:30:00+02:00"), after, after + timedelta(hours=3), 10)
    assert [t.minute for t in hourly] == [30, 30, 30]
    assert hourly[0] == datetime(2026, 3, 27, 0, 30, tzinfo=UTC)
    daily = next_times(interval(86400, "2027-06-01T05:00:00+02:00"), after, after + timedelta(days=4), 10)
    # whole days keep 05:00 local on both sides of the spring-forward night of 29 March
    assert local(daily) == ["03-27 05:00+0100", "03-28 05:00+0100", "03-29 05:00+0200", "03-30 05:00+0200"]


def test_a_day_and_an_hour_adds_wall_clock_time_across_dst() -> None:
    schedule = interval(90000, "2026-01-01T00:10:00+01:00")
    after = datetime(2026, 3, 27, tzinfo=UTC)
    times = next_times(schedule, after, after + timedelta(days=5), 5)
    # 25 hours on the wall clock each time, also across the night that lost an hour
    assert local(times) == [
        "03-27 10:10+0100",
        "03-28 11:10+0100",
        "03-29 12:10+0200",
        "03-30 13:10+0200",
        "03-31 14:10+0200",
    ]
    elapsed = [(b - a).total_seconds() / 3600 for a, b in zip(times, times[1:], strict=False)]
    assert elapsed == [25, 24, 25, 25]


def test_an_interval_without_anchor_date_is_anchored_at_2020_01_01(repo_dir: Path) -> None:
    # Prefect anchors such a schedule at deploy time; deployctl keeps a fixed anchor so that
    # re-syncing the same commit never moves the grid (README: "Differences from Prefect")
    write_tree(
        repo_dir,
        {
            "deployment.yaml": minimal_deployment(extra="schedules:\n- schedule:\n    interval: 5400\n"),
            "flows.py": FLOW_SOURCE,
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={})
    assert result.ok, result.diagnostics
    (spec,) = result.specs.values()
    (schedule,) = spec.schedules
    assert schedule.anchor_date == "2020-01-01T00:00:00+00:00"
    after = datetime(2026, 5, 1, 0, 1, tzinfo=UTC)
    assert next_times(schedule, after, after + timedelta(hours=4), 3)[0] == datetime(
        2026, 5, 1, 1, 30, tzinfo=UTC
    )
