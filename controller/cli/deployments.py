"""``deployctl deployment …``: list, inspect, delete, run, and Prefect 2's schedule commands.

Each command parses its flags, calls ``controller.services.deployments`` (or ``runs``) and
renders. Schedule commands change the registry, not git: the next sync reports them as drift.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import EXIT_ERROR, EXIT_OK, echo_json, echo_rows, output_option, with_options
from controller.cli.events import echo_firings, trigger_firings

if TYPE_CHECKING:
    from controller.app import App
    from controller.ports import DeploymentRow

DRIFT_NOTE = "this differs from git: the next sync reports it as drift and restores git's schedules"


@click.group()
def deployment() -> None:
    """List, inspect, delete and run deployments; manage their schedules."""


@deployment.command("ls")
@output_option
@click.pass_obj
def deployment_ls(app: App, output: str) -> None:
    """List deployments with their versions."""
    rows = [_summary_row(d) for d in app.reading_only().deployments().all()]
    columns = ["id", "version", "schedules", "paused", "work_queue", "owner", "updated_at"]
    echo_rows(rows, columns, output, f"no deployments in the registry {app.registry().location}")


@deployment.command("inspect")
@click.argument("identity", metavar="FLOW/NAME")
@output_option
@click.pass_obj
def deployment_inspect(app: App, identity: str, output: str) -> None:
    """Show everything the registry holds about one deployment."""
    found = app.reading_only().deployments().get(identity)
    details = dataclasses.asdict(found)
    firings = trigger_firings(app, identity, found.record.get("triggers") or [])
    if output == "json":
        echo_json({**details, **({"last_firings": firings} if firings is not None else {})})
        return
    for key, value in details.items():
        if key != "record":
            click.echo(f"{key + ':':<15} {value if value is not None else '-'}")
    click.echo("record:\n" + json.dumps(found.record, indent=2))
    echo_firings(firings)


@deployment.command("delete")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def deployment_delete(app: App, identity: str) -> None:
    """Delete a deployment from the registry (a later sync recreates it if git still declares it)."""
    found = app.deployments().delete(identity)
    note = f"; it is owned by {found.owner}, whose next sync recreates it" if found.owner else ""
    click.echo(f"deleted {identity}{note}")


@deployment.command("run")
@click.argument("identity", metavar="FLOW/NAME")
@click.option(
    "--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter (JSON value or text)."
)
@click.option("--params", "params_json", metavar="JSON", help="Parameters as a JSON object.")
@click.option("--start-in", metavar="DURATION", help="Start later: 30s, 10m, 2h, 1d.")
@click.option(
    "--watch", is_flag=True, help="Stream the run's logs; exit with its outcome (0 Completed, else 2)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="With --watch: stop watching after this long (exit 2; the run goes on) [wait for the end].",
)
@click.pass_obj
def deployment_run(
    app: App,
    identity: str,
    params: tuple[str, ...],
    params_json: str | None,
    start_in: str | None,
    watch: bool,
    timeout: float | None,
) -> None:
    """Create an ad-hoc run of a deployment (a runner executes it)."""
    from controller.cli.runs import echo_log_line, final_line

    if timeout is not None and not watch:
        raise click.BadParameter(
            "only with --watch (without it nothing is waited for)", param_hint="--timeout"
        )
    runs = app.run_service("deployment run")
    start_at = datetime.now(UTC) + _duration(start_in) if start_in else None
    run = runs.create(identity, _parameters(params, params_json), start_at)
    when = run.expected_start_time
    click.echo(
        f"created flow run {run.id} ({run.name}) of {identity}" + (f", scheduled for {when}" if when else "")
    )
    if watch:
        waiting = runs.watching(run, lambda why: click.echo(f"waiting: {why}", err=True), timeout)
        for line in runs.follow(run.id, waiting=waiting):
            echo_log_line(line)
        final = runs.wait(run.id)
        click.echo(final_line(final))
        sys.exit(EXIT_OK if final.state_name == "Completed" else EXIT_ERROR)


def _parameters(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any]:
    try:
        parameters: dict[str, Any] = json.loads(as_json) if as_json else {}
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--params") from None
    if not isinstance(parameters, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--params")
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
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

schedule_options = with_options(
    [
        click.option("--cron", help="Cron expression."),
        click.option("--interval", help="Seconds, ISO-8601 duration or HH:MM:SS."),
        click.option("--rrule", help="RFC 5545 recurrence rule."),
        click.option("--timezone", "zone", help="IANA time zone [UTC]."),
        click.option("--anchor-date", help="Interval anchor (ISO-8601) [2020-01-01T00:00:00]."),
    ]
)


@deployment.command("pause-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def pause_schedule(app: App, identity: str) -> None:
    """Pause every schedule of a deployment (its future scheduled runs are removed)."""
    app.deployments().set_active(identity, False)
    click.echo(f"paused the schedules of {identity}; {DRIFT_NOTE}")


@deployment.command("resume-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@click.pass_obj
def resume_schedule(app: App, identity: str) -> None:
    """Resume every schedule of a deployment."""
    app.deployments().set_active(identity, True)
    click.echo(f"resumed the schedules of {identity}; {DRIFT_NOTE}")


@deployment.command("set-schedule")
@click.argument("identity", metavar="FLOW/NAME")
@schedule_options
@click.pass_obj
def set_schedule(app: App, /, identity: str, **flags: Any) -> None:
    """Replace a deployment's schedules with one."""
    from controller.services.deployments import schedule_from_flags

    app.deployments().replace_schedules(identity, schedule_from_flags(**flags))
    click.echo(f"set the schedule of {identity}; {DRIFT_NOTE}")


@deployment.group("schedule")
def schedule() -> None:
    """List, create, delete, pause and resume one deployment's schedules (addressed by slug)."""


@schedule.command("ls")
@click.argument("identity", metavar="FLOW/NAME")
@output_option
@click.pass_obj
def schedule_ls(app: App, identity: str, output: str) -> None:
    """List a deployment's schedules with their slugs."""
    rows = [view.__dict__ for view in app.reading_only().deployments().schedules(identity)]
    echo_rows(
        rows, ["slug", "kind", "definition", "timezone", "active"], output, f"{identity} has no schedules"
    )


@schedule.command("create")
@click.argument("identity", metavar="FLOW/NAME")
@schedule_options
@click.option("--slug", help="A stable name for the schedule, unique in the deployment [schedule-N].")
@click.option("--inactive", is_flag=True, help="Create it paused.")
@click.pass_obj
def schedule_create(app: App, /, identity: str, slug: str | None, inactive: bool, **flags: Any) -> None:
    """Add a schedule to a deployment."""
    from controller.services.deployments import schedule_from_flags

    app.deployments().add_schedule(identity, schedule_from_flags(**flags, slug=slug, active=not inactive))
    click.echo(f"added a schedule to {identity}; {DRIFT_NOTE}")


@schedule.command("delete")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("slug", metavar="SLUG")
@click.pass_obj
def schedule_delete(app: App, identity: str, slug: str) -> None:
    """Delete the schedule SLUG of a deployment."""
    app.deployments().delete_schedule(identity, slug)
    click.echo(f"deleted schedule {slug} of {identity}; {DRIFT_NOTE}")


@schedule.command("pause")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("slug", metavar="SLUG")
@click.pass_obj
def schedule_pause(app: App, identity: str, slug: str) -> None:
    """Pause the schedule SLUG of a deployment."""
    app.deployments().set_active(identity, False, slug)
    click.echo(f"paused schedule {slug} of {identity}; {DRIFT_NOTE}")


@schedule.command("resume")
@click.argument("identity", metavar="FLOW/NAME")
@click.argument("slug", metavar="SLUG")
@click.pass_obj
def schedule_resume(app: App, identity: str, slug: str) -> None:
    """Resume the schedule SLUG of a deployment."""
    app.deployments().set_active(identity, True, slug)
    click.echo(f"resumed schedule {slug} of {identity}; {DRIFT_NOTE}")


def _summary_row(row: DeploymentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "version": row.version,
        "commit": row.commit_sha,
        "branch": row.branch,
        "repository": row.repo_url,
        "owner": row.owner,
        "schedules": len(row.record.get("schedules", [])),
        "paused": row.paused,
        "work_queue": row.work_queue_name,
        "artifact": row.artifact_uri,
        "updated_at": row.updated_at,
    }
