"""Fire times equal Prefect 3.9.1's: cron, interval and rrule around the 2026 DST changes.

For every schedule of the matrix and every start two days before a 2026 DST change of its
zone, the next 50 times from deployctl's ``core.schedule_times`` must equal those of Prefect's
server schedule classes, run in Prefect's own virtualenv. The rows where deployctl differs on
purpose are listed in DOCUMENTED (and in the README's "Differences from Prefect").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.core.schedule_times import next_times
from controller.core.spec import ScheduleKind, ScheduleSpec
from tests.oracle.conftest import run_in_prefect

ZONES = {
    "America/New_York": ["2026-03-08", "2026-11-01"],
    "Europe/Berlin": ["2026-03-29", "2026-10-25"],
    "Australia/Lord_Howe": ["2026-04-05", "2026-10-04"],
    "UTC": ["2026-06-01"],
}
CRONS = ["0 2 * * *", "30 1 * * *", "0 */3 * * *", "15 3 * * 0", "*/20 * * * *", "0 0 1 * *"]
INTERVALS = [1800, 3600, 86400, 7 * 86400, 90000]  # 90000 s: a day and an hour
# the second lies in the future; the third's 02:30 does not exist on a spring-forward night
ANCHORS = ["2026-01-01T00:10:00", "2027-06-01T05:00:00", "2026-01-01T02:30:00"]
RRULES = ["FREQ=DAILY;BYHOUR=9;BYMINUTE=30", "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=6", "FREQ=HOURLY;INTERVAL=5"]
N = 50

# (kind, definition, zone, start day) where deployctl follows RFC 5545 or Prefect's own docstring on
# purpose; each is a row of the README's "Differences from Prefect".
DOCUMENTED = {
    # Prefect's docstring: an hourly interval "will fire every UTC hour, even across DST
    # boundaries"; its code drops the second 02:10 of the fall-back night. deployctl fires both.
    ("interval", "3600 from 2026-01-01T00:10:00", "Europe/Berlin", "2026-10-23"),
    # the same, from a future anchor and from an anchor at 02:30
    ("interval", "3600 from 2027-06-01T05:00:00", "Europe/Berlin", "2026-10-23"),
    ("interval", "3600 from 2026-01-01T02:30:00", "Europe/Berlin", "2026-10-23"),
    # Whole days keep the anchor's local time: a daily run at 02:30 runs at 03:30 on the night
    # 02:30 does not exist and at 02:30 again after it. Prefect adds day after day, so the gap
    # moves it to 03:30 for good (even after the clocks go back).
    ("interval", "86400 from 2026-01-01T02:30:00", "America/New_York", "2026-03-06"),
    ("interval", "86400 from 2026-01-01T02:30:00", "America/New_York", "2026-10-30"),
    ("interval", "86400 from 2026-01-01T02:30:00", "Europe/Berlin", "2026-03-27"),
    ("interval", "86400 from 2026-01-01T02:30:00", "Europe/Berlin", "2026-10-23"),
    # RFC 5545: an occurrence in a DST gap (02:00 on spring-forward day) moves after the gap;
    # Prefect moves it before.
    ("rrule", "FREQ=HOURLY;INTERVAL=5", "Europe/Berlin", "2026-03-27"),
}


def matrix() -> list[tuple[str, str, str, dict[str, Any], ScheduleSpec]]:
    rows = []
    for zone in ZONES:
        for cron in CRONS:
            ours = ScheduleSpec(ScheduleKind.CRON, zone, cron=cron)
            rows.append(("cron", cron, zone, {"cron": cron, "timezone": zone}, ours))
        for seconds in INTERVALS:
            for anchor in ANCHORS:
                aware = datetime.fromisoformat(anchor).replace(tzinfo=ZoneInfo(zone)).isoformat()
                prefect = {"interval": seconds, "anchor_date": aware, "timezone": zone}
                ours = ScheduleSpec(ScheduleKind.INTERVAL, zone, interval_seconds=seconds, anchor_date=aware)
                rows.append(("interval", f"{seconds} from {anchor}", zone, prefect, ours))
        for rule in RRULES:
            full = f"DTSTART:20260101T000000\nRRULE:{rule}"
            ours = ScheduleSpec(ScheduleKind.RRULE, zone, rrule=full)
            rows.append(("rrule", rule, zone, {"rrule": full, "timezone": zone}, ours))
    return rows


def test_next_fire_times_equal_prefects_around_dst(prefect_python: Path) -> None:
    cases = []
    for kind, definition, zone, prefect, ours in matrix():
        for change in ZONES[zone]:
            start = datetime.fromisoformat(change).replace(tzinfo=UTC) - timedelta(days=2)
            cases.append((kind, definition, zone, prefect, ours, start))
    payload = [{"kind": c[0], "schedule": c[3], "start": c[5].isoformat(), "n": N} for c in cases]
    expected = run_in_prefect(prefect_python, "prefect_dates.py", payload)
    mismatches = []
    documented_differ = set()
    for (kind, definition, zone, _, ours, start), theirs in zip(cases, expected, strict=True):
        mine = [t.isoformat() for t in next_times(ours, start, start + timedelta(days=3650), N)]
        theirs = [datetime.fromisoformat(t).astimezone(UTC).isoformat() for t in theirs]
        row = (kind, definition, zone, f"{start:%F}")
        if mine != theirs and row in DOCUMENTED:
            documented_differ.add(row)
        elif mine != theirs:
            at = next((i for i, pair in enumerate(zip(mine, theirs, strict=False)) if pair[0] != pair[1]), 0)
            mismatches.append(
                f"{kind} {definition!r} {zone} from {start:%F}: #{at} "
                f"ours {mine[at : at + 2]} prefect {theirs[at : at + 2]}"
            )
    assert documented_differ == DOCUMENTED, (
        "a documented difference is gone: drop its row here and in the README"
    )
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ:\n" + "\n".join(mismatches)
