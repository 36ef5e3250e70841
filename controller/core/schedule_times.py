"""When a schedule fires: the next run times of a cron, interval or rrule schedule. Pure.

Times are computed on the wall clock of the schedule's time zone and then placed on the
timeline, so DST is handled once, here, the way cron users expect: a wall time that does
not exist (spring forward) runs at the same offset after the gap, a wall time that happens
twice (fall back) runs once, and no instant is ever produced twice. Intervals of whole days
keep their local time of day across DST; shorter intervals are exact elapsed time.
The caller passes "now": nothing here reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil import rrule as dateutil_rrule

from controller.core.spec import ScheduleKind, ScheduleSpec

RRULE_DEFAULT_START = datetime(2020, 1, 1)
DAY = 86400


def next_times(schedule: ScheduleSpec, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Up to ``limit`` fire times in ``[after, until)``, as aware UTC datetimes, ascending."""
    out: list[datetime] = []
    for moment in iter_times(schedule, after):
        if moment >= until or len(out) >= limit:
            break
        out.append(moment)
    return out


def iter_times(schedule: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    """Fire times from ``after`` on, ascending and never repeated; consume only what you need."""
    last = None
    for moment in _instants(schedule, after):
        if last is None or moment > last:
            last = moment
            yield moment


def _instants(schedule: ScheduleSpec, after: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(schedule.timezone)
    if schedule.kind is ScheduleKind.INTERVAL:
        yield from _interval(schedule, after, zone)
        return
    local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)  # covers a DST shift
    walls = (
        _cron_walls(schedule, local_after)
        if schedule.kind is ScheduleKind.CRON
        else _rrule_walls(schedule, local_after)
    )
    for wall in walls:
        moment = place(wall, zone)
        if moment >= after:
            yield moment


def _cron_walls(schedule: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    assert schedule.cron is not None
    iterator = croniter(schedule.cron, start, day_or=schedule.day_or)
    while True:
        yield iterator.get_next(datetime)


def _rrule_walls(schedule: ScheduleSpec, start: datetime) -> Iterator[datetime]:
    """Wall times of the rule; a DTSTART written in the rule wins over the 2020-01-01 default."""
    assert schedule.rrule is not None
    rule = dateutil_rrule.rrulestr(schedule.rrule, dtstart=RRULE_DEFAULT_START, cache=False)
    zone = ZoneInfo(schedule.timezone)
    first = next(iter(rule), None)
    aware = first is not None and first.tzinfo is not None
    begin = start.replace(tzinfo=zone) if aware else start
    for wall in rule.xafter(begin, count=None, inc=True):
        yield wall.astimezone(zone).replace(tzinfo=None) if aware else wall


def _interval(schedule: ScheduleSpec, after: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    assert schedule.interval_seconds is not None and schedule.anchor_date is not None
    anchor = datetime.fromisoformat(schedule.anchor_date)
    step = schedule.interval_seconds
    if step % DAY == 0:
        wall_anchor = anchor.astimezone(zone).replace(tzinfo=None)
        days = int(step // DAY)
        elapsed = (after.astimezone(zone).replace(tzinfo=None) - wall_anchor).days
        k = max(0, elapsed // days - 1)
        while True:
            moment = place(wall_anchor + timedelta(days=k * days), zone)
            if moment >= after:
                yield moment
            k += 1
    k = max(0, -int(-(after - anchor).total_seconds() // step))
    while True:
        yield (anchor + timedelta(seconds=k * step)).astimezone(UTC)
        k += 1


def place(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``zone`` as a UTC instant: first occurrence when it happens
    twice, shifted forward by the gap when it does not exist."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset() and first.utcoffset() < second.utcoffset():  # type: ignore[operator]
        gap = second.utcoffset() - first.utcoffset()  # type: ignore[operator]
        return (wall + gap).replace(tzinfo=zone, fold=0).astimezone(UTC)
    return first.astimezone(UTC)
