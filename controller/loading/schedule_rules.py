"""Validation and normalisation of schedule values: cron, interval, rrule, time zone, anchor.

Each function raises ``ValueError`` with a sentence a user can act on (the checks are pure,
so they are memoised: a repository repeats the same few expressions thousands of times); the manifest models
call them from their validators so a bad schedule is a load-time diagnostic, never a
run-time surprise. Uses croniter and dateutil, which Prefect itself uses for the same job.
"""

from __future__ import annotations

import difflib
import functools
import json
import math
import re
import zoneinfo
from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from dateutil import rrule as dateutil_rrule

from controller.core.schedule_times import PROBE_YEARS, rrule_fires

_CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_CRON_NICKNAMES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_RRULE_MAX_LENGTH = 6500


@functools.lru_cache(maxsize=4096)
def check_cron(expression: str) -> str:
    """Accept a standard five-field cron expression or an ``@daily``-style nickname."""
    expression = expression.strip()
    if expression.lower() in _CRON_NICKNAMES:
        return expression
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{expression!r} is not a valid cron expression (it has {len(fields)} "
            "fields; use five: minute hour day-of-month month day-of-week)"
        )
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        _check_cron_field(expression, text, name, low, high)
    if not croniter.is_valid(expression):
        raise ValueError(f"{expression!r} is not a valid cron expression")
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except Exception as exc:  # croniter signals impossible dates with several classes
        raise ValueError(f"{expression!r} never matches any date ({exc})") from exc
    return expression


def _check_cron_field(expression: str, text: str, name: str, low: int, high: int) -> None:
    if text.upper() in {"H", "R"} or text.upper().startswith(("H(", "R(")):
        raise ValueError(f"{expression!r}: random and hashed cron expressions are not supported")
    for part in text.split(","):
        values, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(
                f"{expression!r} is not a valid cron expression ({name} step "
                f"{step!r} must be a positive number)"
            )
        for value in values.replace("L", "").split("-"):
            if value.isdigit() and not low <= int(value) <= high:
                raise ValueError(
                    f"{expression!r} is not a valid cron expression ({name} must be {low}-{high})"
                )


_ISO_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)
_CLOCK_DURATION = re.compile(
    r"^(?:(?P<days>\d+) days?,?\s*)?(?P<hours>\d+):(?P<minutes>\d{2}):(?P<seconds>\d{2}(?:\.\d+)?)$"
)


MIN_INTERVAL_SECONDS = 1.0
MAX_INTERVAL_SECONDS = 1000 * 365 * 86400.0
"""Past a thousand years the next run would overflow the calendar; such a schedule never fires."""


def parse_interval(value: float | int | str) -> float:
    """Seconds from a number, an ISO-8601 duration (``PT1H``) or ``[D days, ]HH:MM:SS``;
    finite, at least 1 s (a shorter step floods the run queue), at most 1000 years."""
    if isinstance(value, bool):
        raise ValueError("an interval must be a number of seconds or a duration, not true/false")
    if isinstance(value, (int, float)):
        seconds = float(value) if abs(value) < 1e300 else math.inf
    else:
        match = _ISO_DURATION.match(value.strip()) or _CLOCK_DURATION.match(value.strip())
        if not match or not any(match.groupdict().values()):
            raise ValueError(
                f"interval {value!r} is not a duration: use seconds (3600), "
                "ISO-8601 (PT1H) or HH:MM:SS (01:00:00)"
            )
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        seconds = sum(parts.get(unit, 0.0) * size for unit, size in _UNIT_SECONDS.items())
    if math.isnan(seconds) or seconds < MIN_INTERVAL_SECONDS:
        raise ValueError(f"interval must be at least {MIN_INTERVAL_SECONDS:g} second, got {value!r}")
    if seconds > MAX_INTERVAL_SECONDS:
        raise ValueError(f"interval {value!r} is longer than 1000 years: use a cron or rrule schedule")
    return seconds


_UNIT_SECONDS = {"weeks": 604800.0, "days": 86400.0, "hours": 3600.0, "minutes": 60.0, "seconds": 1.0}


@functools.cache
def _known_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.lru_cache(maxsize=1024)
def check_timezone(name: str) -> str:
    """Accept an IANA time zone name such as ``Europe/Berlin``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        close = difflib.get_close_matches(name, _known_time_zones(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (use an IANA name such as 'Europe/Berlin')"
        raise ValueError(f"unknown time zone {name!r}{hint}") from None
    return name


def normalise_anchor_date(value: str | datetime, zone: str | None) -> str:
    """ISO-8601 with offset; a naive anchor is read in the schedule's time zone (or UTC)."""
    if not isinstance(value, (str, datetime)):
        raise ValueError(
            f"anchor_date must be an ISO-8601 date-time such as 2024-01-01T00:00:00+00:00, got {value!r}"
        )
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"anchor_date {value!r} is not an ISO-8601 date-time (for example 2024-01-01T00:00:00+00:00)"
            ) from None
    else:
        moment = value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zoneinfo.ZoneInfo(zone or "UTC"))
    return moment.isoformat()


_RULE_NUMBER = re.compile(r"(?:^|[;:\s])(?P<name>INTERVAL|COUNT)=(?P<value>[+-]?\d+)", re.IGNORECASE)
_COUNT_PART = re.compile(r"(?:^|[;:\s])COUNT=", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def check_rrule(text: str) -> str:
    """Accept an RFC 5545 recurrence rule that fires at least once (COUNT included, as Prefect 3).

    The one check of an rrule wherever it comes from: a manifest of any format, or the
    ``set-schedule`` / ``schedule create`` flags (``check_prefect2_rrule`` adds what a Prefect 2
    ``deployment.yaml`` may not have)."""
    if len(text) > _RRULE_MAX_LENGTH:
        raise ValueError(f"rrule is {len(text)} characters; the limit is {_RRULE_MAX_LENGTH}")
    _check_rule_numbers(text)
    try:
        dateutil_rrule.rrulestr(text, cache=False)
        fires = rrule_fires(text)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise ValueError(f"rrule {text!r} cannot be parsed: {exc}") from None
    if not fires:
        raise ValueError(
            f"rrule {text!r} never fires (no occurrence in {PROBE_YEARS} years of its pattern): "
            "check BYMONTH, BYMONTHDAY and BYDAY against each other"
        )
    return text


def _check_rule_numbers(text: str) -> None:
    """INTERVAL and COUNT below 1: dateutil divides by a zero INTERVAL, loops backwards on a
    negative one, and a COUNT under 1 never fires (``rrule_fires`` looks past COUNT)."""
    for match in _RULE_NUMBER.finditer(text):
        if int(match["value"]) < 1:
            name = match["name"].upper()
            meaning = "1 is every FREQ" if name == "INTERVAL" else "the number of runs"
            raise ValueError(f"rrule {text!r} has {name}={match['value']}: give 1 or more ({meaning})")


@functools.lru_cache(maxsize=1024)
def check_prefect2_rrule(text: str) -> str:
    """An rrule of a Prefect 2 ``deployment.yaml``: ``check_rrule``, and no COUNT, which Prefect
    2.20's ``Deployment`` refuses (Prefect 3's ``prefect.yaml`` accepts it)."""
    check_rrule(text)
    if _COUNT_PART.search(text):
        raise ValueError(
            f"rrule {text!r} has COUNT, which a Prefect 2 deployment.yaml cannot have (Prefect 2.20 "
            "refuses it too): use UNTIL, or declare the deployment in a prefect.yaml"
        )
    return text


def rrule_json(text: str) -> dict[str, Any] | None:
    """Prefect's JSON rrule form ``{"rrule": "...", "timezone": "..."}`` as fields, or None
    when ``text`` is a plain rule."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("rrule"), str):
        raise ValueError('a JSON rrule must be an object with an "rrule" string')
    unknown = sorted(set(data) - {"rrule", "timezone"})
    if unknown:
        raise ValueError(f"unknown key(s) in the JSON rrule: {', '.join(unknown)} (allowed: rrule, timezone)")
    return {k: data[k] for k in ("rrule", "timezone") if data.get(k) is not None}
