"""When a schedule fires: the next run times of a cron, interval or rrule schedule. Pure.

Times are computed on the wall clock of the schedule's time zone and then placed on the
timeline, so DST is handled once, here, the way cron users expect: a wall time that does
not exist (spring forward) runs at the same offset after the gap, a wall time that happens
twice (fall back) runs once, and no instant is ever produced twice. Intervals follow
Prefect's grid, which runs before the anchor as well as after it: whole days keep their local
time of day across DST, shorter intervals are exact elapsed time, and longer ones that are not
whole days add days and remainder on the wall clock from the exact grid point before "after".
Evaluation is bounded: an rrule is looked at within a window and from a DTSTART moved near
it, a rule that never fires yields nothing, and a time past the year 9999 ends a series.
The caller passes "now": nothing here reads a clock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import MAXYEAR, UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from dateutil import rrule as dateutil_rrule

from controller.core.spec import ScheduleKind, ScheduleSpec

RRULE_DEFAULT_START = datetime(2020, 1, 1)
DAY = 86400


RRULE_LOOKAHEAD = timedelta(days=400)
"""How far past ``after`` one evaluation looks for rrule occurrences (the scheduler's horizon
is 100 days): a rule that matches nothing costs this window, not a walk to the year 9999."""
RRULE_MAX_STEPS = 20_000
"""Occurrences before ``after`` an evaluation may skip (a rule with COUNT starts at DTSTART)."""
_PERIOD_SECONDS = {
    dateutil_rrule.WEEKLY: 604800,
    dateutil_rrule.DAILY: 86400,
    dateutil_rrule.HOURLY: 3600,
    dateutil_rrule.MINUTELY: 60,
    dateutil_rrule.SECONDLY: 1,
}


def next_times(schedule: ScheduleSpec, after: datetime, until: datetime, limit: int) -> list[datetime]:
    """Up to ``limit`` fire times in ``[after, until)``, as aware UTC datetimes, ascending."""
    out: list[datetime] = []
    for moment in iter_times(schedule, after, until):
        if moment >= until or len(out) >= limit:
            break
        out.append(moment)
    return out


def iter_times(schedule: ScheduleSpec, after: datetime, until: datetime | None = None) -> Iterator[datetime]:
    """Fire times from ``after`` on, ascending and never repeated; consume only what you need.

    Bounded: rrule occurrences are looked for up to ``until`` (default ``after`` plus
    ``RRULE_LOOKAHEAD``), and a time past the calendar's end ends the series."""
    last = None
    try:
        for moment in _instants(schedule, after, until or after + RRULE_LOOKAHEAD):
            if last is None or moment > last:
                last = moment
                yield moment
    except OverflowError:
        return


def _instants(schedule: ScheduleSpec, after: datetime, until: datetime) -> Iterator[datetime]:
    zone = ZoneInfo(schedule.timezone)
    if schedule.kind is ScheduleKind.INTERVAL:
        yield from _interval(schedule, after, zone)
        return
    local_after = after.astimezone(zone).replace(tzinfo=None) - timedelta(hours=3)  # covers a DST shift
    local_until = until.astimezone(zone).replace(tzinfo=None) + timedelta(hours=3)
    walls = (
        _cron_walls(schedule, local_after)
        if schedule.kind is ScheduleKind.CRON
        else _rrule_walls(schedule, local_after, local_until)
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


def _rrule_walls(schedule: ScheduleSpec, start: datetime, end: datetime) -> Iterator[datetime]:
    """Wall times of the rule in ``[start, end]``; a DTSTART written in the rule wins over the
    2020-01-01 default."""
    assert schedule.rrule is not None
    if not rrule_fires(schedule.rrule):
        return
    rule = dateutil_rrule.rrulestr(schedule.rrule, dtstart=RRULE_DEFAULT_START, cache=False)
    zone = ZoneInfo(schedule.timezone)
    aware = _is_aware(rule)
    begin = start.replace(tzinfo=zone) if aware else start
    finish = end.replace(tzinfo=zone) if aware else end
    for steps, wall in enumerate(bounded_rule(rule, begin, finish)):
        if wall >= begin:
            yield wall.astimezone(zone).replace(tzinfo=None) if aware else wall
        elif steps >= RRULE_MAX_STEPS:
            return


def _is_aware(rule: dateutil_rrule.rrulebase) -> bool:
    rules: list[Any] = getattr(rule, "_rrule", None) or [rule]
    starts = [getattr(r, "_dtstart", None) for r in rules] + list(getattr(rule, "_rdate", []))
    return any(s is not None and s.tzinfo is not None for s in starts)


def bounded_rule(rule: dateutil_rrule.rrulebase, start: datetime, end: datetime) -> Any:
    """The same occurrences as ``rule`` up to ``end``, found without walking from a distant
    DTSTART: a rule without COUNT and of weekly or finer frequency starts a whole number of
    periods before ``start`` (which keeps its grid and the defaults DTSTART gives it)."""
    raw: Any = rule  # dateutil keeps a rule's parts in private attributes only
    if isinstance(rule, dateutil_rrule.rruleset):
        bounded = dateutil_rrule.rruleset(cache=False)
        for item in raw._rrule:
            bounded.rrule(bounded_rule(item, start, end))
        for item in raw._exrule:
            bounded.exrule(bounded_rule(item, start, end))
        for day in raw._rdate:
            bounded.rdate(day)
        for day in raw._exdate:
            bounded.exdate(day)
        return bounded
    if raw._count:  # COUNT bounds the series (and dateutil refuses COUNT with UNTIL)
        return rule
    changes: dict[str, Any] = {"until": end}
    try:
        if raw._until is not None:
            changes["until"] = min(raw._until, end)
        period = _PERIOD_SECONDS.get(raw._freq)
        if period and raw._dtstart < start:
            step = timedelta(seconds=period * raw._interval)
            skipped = (start - raw._dtstart) // step - 1
            if skipped > 0:
                changes["dtstart"] = raw._dtstart + skipped * step
    except TypeError:  # naive against aware: leave the rule as written (it fires: rrule_fires said so)
        return rule
    return raw.replace(**changes)


PROBE_YEARS = 100
"""A rule with no occurrence in this many years of its pattern is taken to have none at all."""


@functools.lru_cache(maxsize=1024)
def rrule_fires(text: str) -> bool:
    """Whether the rule, without its COUNT and UNTIL, ever fires, found in bounded time.

    dateutil stops looking for a match only at the year 9999, so the probe moves DTSTART (by
    whole periods, keeping the grid) to ``PROBE_YEARS`` before it: a rule that never matches
    costs a century of its pattern, not eight thousand years."""
    rule: Any = dateutil_rrule.rrulestr(text, dtstart=RRULE_DEFAULT_START, cache=False)
    if getattr(rule, "_rdate", None):
        return True
    return any(
        next(iter(_near_the_end(item)), None) is not None for item in getattr(rule, "_rrule", None) or [rule]
    )


def _near_the_end(rule: Any) -> Any:
    start = rule._dtstart
    target = datetime(MAXYEAR - PROBE_YEARS, 1, 1, tzinfo=start.tzinfo)
    if start < target:
        period = _PERIOD_SECONDS.get(rule._freq)
        if period:
            step = timedelta(seconds=period * rule._interval)
            start += (target - start) // step * step
        else:  # monthly and yearly rules: whole 400-year calendar cycles keep weekdays and leap days
            cycle = 400 * rule._interval
            start = start.replace(year=start.year + (target.year - start.year) // cycle * cycle)
    return rule.replace(dtstart=start, until=None, count=None)


def _interval(schedule: ScheduleSpec, after: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Prefect's interval grid, which extends before the anchor as well as after it."""
    assert schedule.interval_seconds is not None and schedule.anchor_date is not None
    anchor = datetime.fromisoformat(schedule.anchor_date)
    step = schedule.interval_seconds
    days, rest = divmod(step, DAY)
    if days and rest:
        yield from _mixed_interval(anchor, int(days), rest, after, zone)
        return
    if days:
        wall_anchor = anchor.astimezone(zone).replace(tzinfo=None)
        elapsed = (after.astimezone(zone).replace(tzinfo=None) - wall_anchor).days
        k = elapsed // int(days) - 1
        while True:
            moment = place(wall_anchor + timedelta(days=k * int(days)), zone)
            if moment >= after:
                yield moment
            k += 1
    k = -int(-(after - anchor).total_seconds() // step)
    while True:
        yield (anchor + timedelta(seconds=k * step)).astimezone(UTC)
        k += 1


def _mixed_interval(
    anchor: datetime, days: int, rest: float, after: datetime, zone: ZoneInfo
) -> Iterator[datetime]:
    """An interval over a day that is not whole days, the way Prefect steps it: start at the
    last point of the exact-elapsed grid at or before ``after``, then add the whole days and
    the remainder on the wall clock, so the series keeps its local time across DST (and so
    depends on where it starts, as Prefect's does)."""
    step = timedelta(days=days, seconds=rest)
    moment = anchor + int((after - anchor) / step) * step
    while moment > after:
        moment -= step
    wall = moment.astimezone(zone).replace(tzinfo=None)
    while True:
        if moment >= after:
            yield moment.astimezone(UTC)
        wall += step
        moment = place(wall, zone)


def place(wall: datetime, zone: ZoneInfo) -> datetime:
    """A naive wall-clock time in ``zone`` as a UTC instant: first occurrence when it happens
    twice, shifted forward by the gap when it does not exist."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset() and first.utcoffset() < second.utcoffset():  # type: ignore[operator]
        gap = second.utcoffset() - first.utcoffset()  # type: ignore[operator]
        return (wall + gap).replace(tzinfo=zone, fold=0).astimezone(UTC)
    return first.astimezone(UTC)
