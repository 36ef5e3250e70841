"""Deployments in a registry: list, inspect, delete, and the schedule commands of Prefect 2.

Schedule edits change the registry, not git: that is drift, which the next sync reports and
restores to what git declares. Schedules are addressed by slug (a schedule without one is
``schedule-N``, its position when it was declared), never by a bare position. Called by the
CLI's ``deployment`` commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controller.core.records import schedule_record
from controller.core.runs import schedule_slug
from controller.core.spec import ScheduleSpec
from controller.errors import NotFound, UsageError
from controller.ports import DeploymentRow, DeploymentStore


@dataclass(frozen=True)
class ScheduleView:
    slug: str
    kind: str
    timezone: str
    definition: str
    active: bool


@dataclass
class Deployments:
    registry: DeploymentStore

    def all(self) -> list[DeploymentRow]:
        return self.registry.list_deployments()

    def get(self, identity: str) -> DeploymentRow:
        found = self.registry.get_deployment(identity)
        if found is None:
            raise missing(identity, self.registry.location)
        return found

    def delete(self, identity: str) -> DeploymentRow:
        found = self.get(identity)
        if not self.registry.delete_deployment(identity):
            raise missing(identity, self.registry.location)
        return found

    def schedules(self, identity: str) -> list[ScheduleView]:
        return [_view(i, s) for i, s in enumerate(self.get(identity).record["schedules"])]

    def set_active(self, identity: str, active: bool, slug: str | None = None) -> None:
        """Pause or resume one schedule, or every schedule when ``slug`` is None."""

        def edit(record: dict[str, Any]) -> None:
            positions = range(len(record["schedules"])) if slug is None else [_position(record, slug)]
            for position in positions:
                record["schedules"][position]["active"] = active

        self._edit(identity, edit)

    def replace_schedules(self, identity: str, schedule: ScheduleSpec) -> None:
        new = schedule_record(schedule)

        def edit(record: dict[str, Any]) -> None:
            _check_against_manifest(identity, record, schedule)
            record.update(schedules=[new])

        self._edit(identity, edit)

    def add_schedule(self, identity: str, schedule: ScheduleSpec) -> None:
        new = schedule_record(schedule)

        def edit(record: dict[str, Any]) -> None:
            _check_against_manifest(identity, record, schedule)
            taken = {_slug(i, s) for i, s in enumerate(record["schedules"])}
            if new["slug"] is None:
                new["slug"] = _free_slug(taken, len(record["schedules"]))
            if new["slug"] in taken:
                raise UsageError(f"{identity} already has a schedule {new['slug']!r}: choose another --slug")
            record["schedules"].append(new)

        self._edit(identity, edit)

    def delete_schedule(self, identity: str, slug: str) -> None:
        def edit(record: dict[str, Any]) -> None:
            del record["schedules"][_position(record, slug)]

        self._edit(identity, edit)

    def _edit(self, identity: str, edit: Callable[[dict[str, Any]], None]) -> None:
        try:
            self.registry.edit_record(identity, edit)
        except KeyError:
            raise missing(identity, self.registry.location) from None


def missing(identity: str, location: str) -> NotFound:
    return NotFound(f"no deployment {identity!r} in the registry {location} ('deployctl deployment ls')")


def _slug(position: int, schedule: dict[str, Any]) -> str:
    return schedule_slug(schedule.get("slug"), position)


def _check_against_manifest(identity: str, record: dict[str, Any], schedule: ScheduleSpec) -> None:
    """Refuse what the deployment's own manifest could not declare: a Prefect 2
    ``deployment.yaml`` has no rrule COUNT (``schedule_from_flags`` checked the rest)."""
    from controller.loading import schedule_rules
    from controller.loading.manifests import is_project_file

    file = record["source"]["file"]
    if schedule.rrule is None or is_project_file(file):
        return
    try:
        schedule_rules.check_prefect2_rrule(schedule.rrule)
    except ValueError as exc:
        raise UsageError(f"{identity} (declared in {file}): {exc}") from None


def _free_slug(taken: set[str], start: int) -> str:
    number = start
    while f"schedule-{number}" in taken:
        number += 1
    return f"schedule-{number}"


def _position(record: dict[str, Any], slug: str) -> int:
    for position, schedule in enumerate(record["schedules"]):
        if _slug(position, schedule) == slug:
            return position
    known = ", ".join(_slug(i, s) for i, s in enumerate(record["schedules"])) or "none"
    raise NotFound(f"no schedule {slug!r} (schedules: {known}; 'deployctl deployment schedule ls')")


def _view(position: int, schedule: dict[str, Any]) -> ScheduleView:
    definition = schedule["cron"] or schedule["rrule"] or f"every {schedule['interval_seconds']:g}s"
    return ScheduleView(
        _slug(position, schedule), schedule["kind"], schedule["timezone"], definition, schedule["active"]
    )


def schedule_from_flags(
    cron: str | None,
    interval: str | None,
    rrule: str | None,
    zone: str | None,
    anchor_date: str | None,
    slug: str | None = None,
    active: bool = True,
) -> ScheduleSpec:
    """A schedule from the flags of ``set-schedule`` / ``schedule create``, checked as manifests are."""
    from controller.core.spec import ScheduleKind
    from controller.loading import schedule_rules

    if sum(x is not None for x in (cron, interval, rrule)) != 1:
        raise UsageError("give exactly one of --cron, --interval or --rrule")
    try:
        timezone = schedule_rules.check_timezone(zone) if zone else "UTC"
        if cron is not None:
            return ScheduleSpec(
                ScheduleKind.CRON, timezone, cron=schedule_rules.check_cron(cron), slug=slug, active=active
            )
        if interval is not None:
            seconds = schedule_rules.parse_interval(
                float(interval) if interval.replace(".", "", 1).isdigit() else interval
            )
            anchor = schedule_rules.normalise_anchor_date(anchor_date or "2020-01-01T00:00:00", timezone)
            return ScheduleSpec(
                ScheduleKind.INTERVAL,
                timezone,
                interval_seconds=seconds,
                anchor_date=anchor,
                slug=slug,
                active=active,
            )
        rule = schedule_rules.check_rrule(str(rrule))
        return ScheduleSpec(ScheduleKind.RRULE, timezone, rrule=rule, slug=slug, active=active)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
