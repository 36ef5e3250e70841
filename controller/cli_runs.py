"""``deployctl flow-run …`` and the engine commands ``up``, ``scheduler`` and ``runner``."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from controller.adapters.git_source import SourceSpec
from controller.adapters.registry.sqlite_runs import RunStore
from controller.app import build_reconciler
from controller.cli_common import database_path, open_runs, output_option
from controller.core.runs import FlowRun, StateType, iso
from controller.engine.reconciler import SyncOptions
from controller.rendering import render_table, render_text
from controller.runtime.loops import LoopSettings, serve
from controller.runtime.runner import RunnerConfig
from controller.settings import Settings


@click.group("flow-run")
def flow_run() -> None:
    """List, inspect, follow and cancel flow runs."""


@flow_run.command("ls")
@click.option("--deployment", help="Only runs of FLOW/NAME.")
@click.option("--state", help="Only runs in this state type or name (COMPLETED, Late …).")
@click.option("--limit", default=50, show_default=True)
@output_option
@click.pass_obj
def flow_run_ls(
    settings: Settings, deployment: str | None, state: str | None, limit: int, output: str
) -> None:
    runs = open_runs(settings).list_runs(deployment, state, limit)
    rows = [_run_row(r) for r in runs]
    click.echo(
        json.dumps(rows, indent=2)
        if output == "json"
        else render_table(
            rows, ["id", "deployment", "state", "expected_start_time", "start_time", "end_time"]
        )
    )


@flow_run.command("inspect")
@click.argument("run_id")
@click.pass_obj
def flow_run_inspect(settings: Settings, run_id: str) -> None:
    store = open_runs(settings)
    run = _get(store, run_id)
    click.echo(
        json.dumps(
            {
                **_run_row(run),
                "parameters": run.parameters,
                "message": run.state_message,
                "run_count": run.run_count,
                "states": store.states(run.id),
            },
            indent=2,
        )
    )


@flow_run.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run finishes.")
@click.pass_obj
def flow_run_logs(settings: Settings, run_id: str, follow: bool) -> None:
    store = open_runs(settings)
    run = _get(store, run_id)
    if follow:
        follow_logs(store, run.id)
    else:
        for _, timestamp, stream, line in store.logs(run.id):
            click.echo(f"{timestamp} {stream}: {line}")


@flow_run.command("cancel")
@click.argument("run_id")
@click.pass_obj
def flow_run_cancel(settings: Settings, run_id: str) -> None:
    store = open_runs(settings)
    run = _get(store, run_id)
    now = iso(datetime.now(UTC))
    if run.state_type.terminal:
        raise click.ClickException(f"flow run {run.id} has already finished ({run.state_name})")
    if run.state_type is StateType.SCHEDULED:
        store.set_state(
            run.id, StateType.CANCELLED, "Cancelled", now, "cancelled before it started", end_time=now
        )
        click.echo(f"cancelled flow run {run.id}")
    else:
        store.set_state(run.id, StateType.CANCELLING, "Cancelling", now, "cancellation requested")
        click.echo(f"cancelling flow run {run.id}: its runner stops the process (SIGTERM, then SIGKILL)")


def follow_logs(store: RunStore, run_id: str, poll: float = 0.3) -> None:
    seen = 0
    while True:
        run = store.get(run_id)
        for seq, timestamp, stream, line in store.logs(run_id, after=seen):
            click.echo(f"{timestamp} {stream}: {line}", err=stream == "stderr")
            seen = seq
        if run is None or run.state_type.terminal:
            rest = store.logs(run_id, after=seen)
            for _, timestamp, stream, line in rest:
                click.echo(f"{timestamp} {stream}: {line}", err=stream == "stderr")
            return
        time.sleep(poll)


def _get(store: RunStore, run_id: str) -> FlowRun:
    run = store.get(run_id)
    if run is None:
        raise click.ClickException(f"no flow run {run_id!r} ('deployctl flow-run ls')")
    return run


def _run_row(run: FlowRun) -> dict[str, object]:
    return {
        "id": run.id,
        "name": run.name,
        "deployment": run.deployment_id,
        "state": run.state_name,
        "state_type": run.state_type.value,
        "expected_start_time": run.expected_start_time,
        "start_time": run.start_time,
        "end_time": run.end_time,
    }


@click.group("work-queue")
def work_queue() -> None:
    """List work queues; set their concurrency limits; pause and resume them."""


@work_queue.command("ls")
@output_option
@click.pass_obj
def work_queue_ls(settings: Settings, output: str) -> None:
    rows = open_runs(settings).list_queues()
    click.echo(
        json.dumps(rows, indent=2)
        if output == "json"
        else render_table(rows, ["name", "concurrency_limit", "paused", "active_runs"])
    )


@work_queue.command("set-concurrency-limit")
@click.argument("name")
@click.argument("limit", type=click.IntRange(min=0))
@click.pass_obj
def work_queue_set_limit(settings: Settings, name: str, limit: int) -> None:
    """At most LIMIT runs of queue NAME at once, across all runners."""
    _update_queue(settings, name, f"at most {limit} runs at once", concurrency_limit=limit)


@work_queue.command("clear-concurrency-limit")
@click.argument("name")
@click.pass_obj
def work_queue_clear_limit(settings: Settings, name: str) -> None:
    _update_queue(settings, name, "no concurrency limit", concurrency_limit=None)


@work_queue.command("pause")
@click.argument("name")
@click.pass_obj
def work_queue_pause(settings: Settings, name: str) -> None:
    """Runners stop claiming runs from queue NAME (running ones go on)."""
    _update_queue(settings, name, "paused", paused=1)


@work_queue.command("resume")
@click.argument("name")
@click.pass_obj
def work_queue_resume(settings: Settings, name: str) -> None:
    _update_queue(settings, name, "resumed", paused=0)


def _update_queue(settings: Settings, name: str, outcome: str, **changes: object) -> None:
    open_runs(settings).update_queue(name, iso(datetime.now(UTC)), **changes)
    click.echo(f"work queue {name}: {outcome}")


# -- engine ------------------------------------------------------------------------------------

runner_options = [
    click.option("--queue", "-q", "queues", multiple=True, help="Work queue to serve (repeatable) [all]."),
    click.option("--limit", default=4, show_default=True, help="Runs at once in this runner."),
    click.option("--poll", default=1.0, show_default=True, help="Seconds between polls for due runs."),
    click.option(
        "--shutdown-grace",
        default=30.0,
        show_default=True,
        help="Seconds running flows get to finish on shutdown before they are cancelled.",
    ),
]


def _with_runner_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(runner_options):
        command = option(command)
    return command


def _loop_settings(
    settings: Settings,
    scheduler: bool,
    runner: bool,
    queues: tuple[str, ...] = (),
    limit: int = 4,
    poll: float = 1.0,
    grace: float = 30.0,
    interval: float = 10.0,
) -> LoopSettings:
    open_runs(settings).close()
    config = RunnerConfig(settings.state_dir / "runs", list(queues) or None, limit) if runner else None
    return LoopSettings(database_path(settings), scheduler, config, interval, poll, timedelta(seconds=grace))


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.command()
@click.argument("source", default=".")
@click.option("--ref")
@click.option("--path", "subpath", default="")
@_with_runner_options
@click.option(
    "--scheduler-interval", default=10.0, show_default=True, help="Seconds between scheduler passes."
)
@click.pass_obj
def up(
    settings: Settings,
    source: str,
    ref: str | None,
    subpath: str,
    queues: tuple[str, ...],
    limit: int,
    poll: float,
    shutdown_grace: float,
    scheduler_interval: float,
) -> None:
    """Sync SOURCE once, then schedule and run its flows here until Ctrl-C or SIGTERM."""
    _logging()
    result = build_reconciler(settings, SourceSpec(source, ref, subpath)).reconcile_once(SyncOptions())
    click.echo(render_text(result, "Applied"))
    if not result.applied and not result.up_to_date:
        sys.exit(2)
    loops = _loop_settings(settings, True, True, queues, limit, poll, shutdown_grace, scheduler_interval)
    serve(
        loops,
        on_ready=lambda: click.echo(
            f"deployctl up: scheduler and runner started (pid {os.getpid()}); Ctrl-C to stop", err=True
        ),
    )
    click.echo("deployctl up: stopped", err=True)


@click.command()
@click.option("--interval", default=10.0, show_default=True, help="Seconds between passes.")
@click.pass_obj
def scheduler(settings: Settings, interval: float) -> None:
    """Run the scheduler alone, in the foreground."""
    _logging()
    serve(_loop_settings(settings, True, False, interval=interval))


@click.command()
@_with_runner_options
@click.pass_obj
def runner(
    settings: Settings, queues: tuple[str, ...], limit: int, poll: float, shutdown_grace: float
) -> None:
    """Run a process runner alone, in the foreground."""
    _logging()
    serve(
        _loop_settings(settings, False, True, queues, limit, poll, shutdown_grace),
        on_ready=lambda: click.echo(f"runner started (pid {os.getpid()})", err=True),
    )
