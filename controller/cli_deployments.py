"""``deployctl deployment …``: list, inspect, delete, run, and the schedule commands of Prefect 2.

Schedule commands change the registry, not git: that is drift, which the next sync reports
and restores to what git declares.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from controller.app import open_registry
from controller.cli_common import open_runs, output_option
from controller.cli_runs import follow_logs
from controller.core.records import schedule_record
from controller.core.spec import ScheduleKind, ScheduleSpec
from controller.errors import DeployctlError
from controller.loading import schedule_rules
from controller.rendering import render_table
from controller.runtime.ad_hoc import create_run, wait_for
from controller.settings import Settings


@click.group()
def deployment() -> None:
    """List, inspect, delete and run deployments; manage their schedules."""


@deployment.command("ls")
@output_option
@click.pass_obj
def deployment_ls(settings: Settings, output: str) -> None:
    """List deployments with their versions."""
    rows = [_summary_row(d) for d in open_registry(settings).list_deployments()]
    if output == "json":
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(
            render_table(rows, ["id", "version", "schedules", "paused", "work_queue", "owner", "updated_at"])
        )


@deployment.command("inspect")
@click.argument("identity", metavar="FLOW/NAME")
@output_option
@click.pass_obj
def deployment_inspect(settings: Settings, identity: str, output: str) -> None:
    """Show everything the registry holds about one deployment."""
    found = _deployment(settings, identity)
    found["record"] = json.loads(found["record"])
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    for key, value in found.items():
        if key != "record":
            click.echo(f"{key + ':':<15} {value if value is not None else '-'}")
    click.echo("record:\n" + json.dumps(found["record"], indent=2))


@deployment.command("delete")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def deployment_delete(settings: Settings, identity: str) -> None:
    """Delete a deployment from the registry (a later sync recreates it if git still declares it)."""
    registry = open_registry(settings)
    found = registry.get_deployment(identity)
    if found is None or not registry.delete_deployment(identity):
        raise _missing(identity)
    note = f"; it is owned by {found['owner']}, whose next sync recreates it" if found["owner"] else ""
    click.echo(f"deleted {identity}{note}")


@deployment.command("run")
@click.argument("identity", metavar="FLOW/NAME")
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter (JSON value or text)."
)
@click.option("--params", "params_json", metavar="JSON", help="Parameters as a JSON object.")
@click.option("--start-in", metavar="DURATION", help="Start later: 30s, 10m, 2h, 1d.")
@click.option("--watch", is_flag=True, help="Stream the run's logs; exit with its outcome.")
@click.pass_obj
def deployment_run(
    settings: Settings,
    identity: str,
    params: tuple[str, ...],
    params_json: str | None,
    start_in: str | None,
    watch: bool,
) -> None:
    """Create an ad-hoc run of a deployment (a runner executes it)."""
    store = open_runs(settings)
    parameters = _parameters(params, params_json)
    start_at = datetime.now(UTC) + _duration(start_in) if start_in else None
    try:
        run = create_run(store, identity, parameters, start_at)
    except DeployctlError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"created flow run {run.id} ({run.name}) of {identity}, scheduled for {run.expected_start_time}"
    )
    if watch:
        follow_logs(store, run.id)
        final = wait_for(store, run.id, timeout=None)
        click.echo(
            f"flow run {run.id} finished: {final.state_name}"
            + (f" ({final.state_message.splitlines()[0]})" if final.state_message else "")
        )
        sys.exit(0 if final.state_name == "Completed" else 1)


def _parameters(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any]:
    try:
        parameters: dict[str, Any] = json.loads(as_json) if as_json else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--params") from None
    if not isinstance(parameters, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--params")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--param")
        try:
            parameters[key] = json.loads(value)
        except json.JSONDecodeError:
            parameters[key] = value
    return parameters


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def _duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise click.BadParameter(
            f"{text!r} is not a duration such as 30s, 10m, 2h or 1d", param_hint="--start-in"
        )
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return timedelta(seconds=float(match.group(1)) * unit)


# -- schedules (Prefect 2's deployment schedule commands) -------------------------------------


def _edit(settings: Settings, identity: str, edit: Callable[[dict[str, Any]], None], done: str) -> None:
    try:
        open_registry(settings).edit_record(identity, edit)
    except KeyError:
        raise _missing(identity) from None
    click.echo(
        f"{done}; this differs from git: the next sync reports it as drift and restores git's schedules"
    )


def schedule_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("--cron", help="Cron expression."),
            click.option("--interval", help="Seconds, ISO-8601 duration or HH:MM:SS."),
            click.option("--rrule", help="RFC 5545 recurrence rule."),
            click.option("--timezone", "zone", help="IANA time zone [UTC]."),
            click.option("--anchor-date", help="Interval anchor (ISO-8601)."),
        ]
    ):
        command = option(command)
    return command


def _new_schedule(
    cron: str | None,
    interval: str | None,
    rrule: str | None,
    zone: str | None,
    anchor_date: str | None,
    slug: str | None = None,
    active: bool = True,
) -> dict[str, Any]:
    if sum(x is not None for x in (cron, interval, rrule)) != 1:
        raise click.UsageError("give exactly one of --cron, --interval or --rrule")
    try:
        timezone = schedule_rules.check_timezone(zone) if zone else "UTC"
        if cron is not None:
            spec = ScheduleSpec(ScheduleKind.CRON, timezone, cron=schedule_rules.check_cron(cron))
        elif interval is not None:
            seconds = schedule_rules.parse_interval(
                float(interval) if interval.replace(".", "").isdigit() else interval
            )
            anchor = schedule_rules.normalise_anchor_date(anchor_date or "2020-01-01T00:00:00", timezone)
            spec = ScheduleSpec(ScheduleKind.INTERVAL, timezone, interval_seconds=seconds, anchor_date=anchor)
        else:
            spec = ScheduleSpec(ScheduleKind.RRULE, timezone, rrule=schedule_rules.check_rrule(str(rrule)))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return schedule_record(ScheduleSpec(**{**spec.__dict__, "slug": slug, "active": active}))


def _set_active(record: dict[str, Any], active: bool, which: str | None = None) -> None:
    for position in _positions(record, which):
        record["schedules"][position]["active"] = active


def _positions(record: dict[str, Any], which: str | None) -> list[int]:
    schedules = record["schedules"]
    if which is None:
        return list(range(len(schedules)))
    for position, schedule in enumerate(schedules):
        if which in (schedule["slug"], str(position), f"schedule-{position}"):
            return [position]
    raise click.ClickException(
        f"no schedule {which!r}: use a slug or a position from 'deployctl deployment schedule ls'"
    )


@deployment.command("pause-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def pause_schedule(settings: Settings, identity: str) -> None:
    """Pause every schedule of a deployment (its future scheduled runs are removed)."""
    _edit(settings, identity, lambda r: _set_active(r, False), f"paused the schedules of {identity}")


@deployment.command("resume-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def resume_schedule(settings: Settings, identity: str) -> None:
    """Resume every schedule of a deployment."""
    _edit(settings, identity, lambda r: _set_active(r, True), f"resumed the schedules of {identity}")


@deployment.command("set-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@schedule_options
@click.pass_obj
def set_schedule(
    settings: Settings,
    identity: str,
    cron: str | None,
    interval: str | None,
    rrule: str | None,
    zone: str | None,
    anchor_date: str | None,
) -> None:
    """Replace a deployment's schedules with one."""
    schedule = _new_schedule(cron, interval, rrule, zone, anchor_date)
    _edit(settings, identity, lambda r: r.update(schedules=[schedule]), f"set the schedule of {identity}")


@deployment.group("schedule")
def schedule() -> None:
    """List, create, delete, pause and resume one deployment's schedules."""


@schedule.command("ls")
@click.argument("identity", metavar="FLOW/NAME")
@output_option
@click.pass_obj
def schedule_ls(settings: Settings, identity: str, output: str) -> None:
    found = _deployment(settings, identity)
    schedules = json.loads(found["record"])["schedules"]
    rows = [
        {
            "position": i,
            "slug": s["slug"] or f"schedule-{i}",
            "kind": s["kind"],
            "timezone": s["timezone"],
            "definition": s["cron"] or s["rrule"] or f"every {s['interval_seconds']:g}s",
            "active": s["active"],
        }
        for i, s in enumerate(schedules)
    ]
    click.echo(
        json.dumps(rows, indent=2)
        if output == "json"
        else render_table(rows, ["position", "slug", "kind", "definition", "timezone", "active"])
    )


@schedule.command("create")
@click.argument("identity", metavar="FLOW/NAME")
@schedule_options
@click.option("--slug", help="A stable name for the schedule.")
@click.option("--inactive", is_flag=True, help="Create it paused.")
@click.pass_obj
def schedule_create(
    settings: Settings,
    identity: str,
    cron: str | None,
    interval: str | None,
    rrule: str | None,
    zone: str | None,
    anchor_date: str | None,
    slug: str | None,
    inactive: bool,
) -> None:
    new = _new_schedule(cron, interval, rrule, zone, anchor_date, slug, not inactive)
    _edit(settings, identity, lambda r: r["schedules"].append(new), f"added a schedule to {identity}")


@schedule.command("delete")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("which", metavar="SCHEDULE")
@click.pass_obj
def schedule_delete(settings: Settings, identity: str, which: str) -> None:
    def remove(record: dict[str, Any]) -> None:
        (position,) = _positions(record, which)
        del record["schedules"][position]

    _edit(settings, identity, remove, f"deleted schedule {which} of {identity}")


@schedule.command("pause")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("which", metavar="SCHEDULE")
@click.pass_obj
def schedule_pause(settings: Settings, identity: str, which: str) -> None:
    _edit(
        settings, identity, lambda r: _set_active(r, False, which), f"paused schedule {which} of {identity}"
    )


@schedule.command("resume")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("which", metavar="SCHEDULE")
@click.pass_obj
def schedule_resume(settings: Settings, identity: str, which: str) -> None:
    _edit(
        settings, identity, lambda r: _set_active(r, True, which), f"resumed schedule {which} of {identity}"
    )


def _deployment(settings: Settings, identity: str) -> dict[str, Any]:
    found = open_registry(settings).get_deployment(identity)
    if found is None:
        raise _missing(identity)
    return found


def _missing(identity: str) -> click.ClickException:
    return click.ClickException(f"no deployment {identity!r} in the registry ('deployctl deployment ls')")


def _summary_row(row: dict[str, Any]) -> dict[str, Any]:
    record = json.loads(row["record"])
    return {
        "id": row["id"],
        "version": row["version"],
        "commit": row["commit_sha"],
        "branch": row["branch"],
        "repository": row["repo_url"],
        "owner": row["owner"],
        "schedules": len(record["schedules"]),
        "paused": bool(row["paused"]),
        "work_queue": row["work_queue_name"],
        "artifact": row["artifact_uri"],
        "updated_at": row["updated_at"],
    }
