"""The embedded engine's commands: ``up``, ``scheduler``, ``runner`` and ``work-queue …``.

They need the embedded registry; against a Prefect server they refuse in one line, since
Prefect's own scheduler and workers do that work.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import echo_rows, output_option, with_options
from controller.cli.syncing import format_option, reconcile, render_result, source_options

if TYPE_CHECKING:
    from controller.app import App
    from controller.services.serving import RunnerConfig

runner_options = with_options(
    [
        click.option(
            "--queue", "-q", "queues", multiple=True, help="Work queue to serve (repeatable) [all]."
        ),
        click.option("--limit", default=4, show_default=True, help="Runs at once in this runner."),
        click.option("--poll", default=1.0, show_default=True, help="Seconds between polls for due runs."),
        click.option(
            "--shutdown-grace",
            default=30.0,
            show_default=True,
            help="Seconds running flows get to finish on shutdown before they are cancelled.",
        ),
        click.option(
            "--retention-days",
            default=7.0,
            show_default=True,
            envvar="DEPLOYCTL_RETENTION_DAYS",
            help="Days run folders and logs are kept [env DEPLOYCTL_RETENTION_DAYS].",
        ),
        click.option(
            "--max-log-lines",
            default=100_000,
            show_default=True,
            type=click.IntRange(min=0),
            envvar="DEPLOYCTL_MAX_LOG_LINES",
            help="Lines of output one run may store; the rest is dropped with a marker line "
            "(0: no limit) [env DEPLOYCTL_MAX_LOG_LINES].",
        ),
        click.option(
            "--max-log-bytes",
            default=16 * 1024 * 1024,
            show_default=True,
            type=click.IntRange(min=0),
            envvar="DEPLOYCTL_MAX_LOG_BYTES",
            help="Bytes of output one run may store (0: no limit) [env DEPLOYCTL_MAX_LOG_BYTES].",
        ),
    ]
)


def _runner_config(
    app: App,
    queues: tuple[str, ...],
    limit: int,
    retention_days: float,
    max_log_lines: int,
    max_log_bytes: int,
) -> RunnerConfig:
    from controller.services.serving import LogLimit

    log_limit = LogLimit(max_log_lines, max_log_bytes)
    return app.runner_config(queues, limit, retention=timedelta(days=retention_days), log_limit=log_limit)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@click.command()
@source_options
@format_option
@runner_options
@click.option(
    "--scheduler-interval", default=10.0, show_default=True, help="Seconds between scheduler passes."
)
@click.pass_obj
def up(
    app: App,
    /,
    source: str,
    ref: str | None,
    subpath: str,
    output: str,
    queues: tuple[str, ...],
    limit: int,
    poll: float,
    shutdown_grace: float,
    retention_days: float,
    max_log_lines: int,
    max_log_bytes: int,
    scheduler_interval: float,
    **flags: Any,
) -> None:
    """Sync SOURCE once, then schedule and run its flows here until Ctrl-C or SIGTERM.

    A commit that cannot be applied is reported, and the last applied revision keeps running."""
    from controller.services.serving import serve

    _logging()
    app.run_store("deployctl up").close()
    result = reconcile(app, source, ref, subpath, dry_run=False, **flags)
    render_result(result, output, "Applied", "sync")
    if not result.ok:
        click.echo(
            "deployctl up: this commit was not applied; the last applied revision keeps running", err=True
        )
    loops = app.loop_settings(
        True,
        _runner_config(app, queues, limit, retention_days, max_log_lines, max_log_bytes),
        scheduler_interval,
        poll,
        shutdown_grace,
    )
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
def scheduler(app: App, interval: float) -> None:
    """Run the scheduler alone, in the foreground."""
    from controller.services.serving import serve

    _logging()
    serve(app.loop_settings(True, None, scheduler_interval=interval))


@click.command()
@runner_options
@click.pass_obj
def runner(app: App, /, poll: float, shutdown_grace: float, **options: Any) -> None:
    """Run a process runner alone, in the foreground."""
    from controller.services.serving import serve

    _logging()
    serve(
        app.loop_settings(False, _runner_config(app, **options), poll=poll, grace=shutdown_grace),
        on_ready=lambda: click.echo(f"runner started (pid {os.getpid()})", err=True),
    )


# -- work queues -------------------------------------------------------------------------------


@click.group("work-queue")
def work_queue() -> None:
    """Create, list, inspect and delete work queues; set limits; pause and resume them."""


@work_queue.command("ls")
@output_option
@click.pass_obj
def work_queue_ls(app: App, output: str) -> None:
    """List work queues with their limits and active runs."""
    echo_rows(
        app.reading_only().queues().all(),
        ["name", "concurrency_limit", "paused", "active_runs"],
        output,
        "no work queues",
    )


@work_queue.command("inspect")
@click.argument("name")
@output_option
@click.pass_obj
def work_queue_inspect(app: App, name: str, output: str) -> None:
    """Show one work queue."""
    echo_rows(
        [app.reading_only().queues().get(name)],
        ["name", "concurrency_limit", "paused", "active_runs"],
        output,
        "",
    )


@work_queue.command("create")
@click.argument("name")
@click.option("--limit", type=click.IntRange(min=0), help="Concurrency limit [none].")
@click.pass_obj
def work_queue_create(app: App, name: str, limit: int | None) -> None:
    """Create an empty work queue (syncs create the queues that deployments name)."""
    app.queues().create(name, limit)
    click.echo(f"created work queue {name}")


@work_queue.command("delete")
@click.argument("name")
@click.pass_obj
def work_queue_delete(app: App, name: str) -> None:
    """Delete a work queue that no deployment uses."""
    app.queues().delete(name)
    click.echo(f"deleted work queue {name}")


@work_queue.command("set-concurrency-limit")
@click.argument("name")
@click.argument("limit", type=click.IntRange(min=0))
@click.pass_obj
def work_queue_set_limit(app: App, name: str, limit: int) -> None:
    """At most LIMIT runs of queue NAME at once, across all runners."""
    app.queues().update(name, concurrency_limit=limit)
    click.echo(f"work queue {name}: at most {limit} runs at once")


@work_queue.command("clear-concurrency-limit")
@click.argument("name")
@click.pass_obj
def work_queue_clear_limit(app: App, name: str) -> None:
    """Remove queue NAME's concurrency limit."""
    app.queues().update(name, concurrency_limit=None)
    click.echo(f"work queue {name}: no concurrency limit")


@work_queue.command("pause")
@click.argument("name")
@click.pass_obj
def work_queue_pause(app: App, name: str) -> None:
    """Runners stop claiming runs from queue NAME (running ones go on)."""
    app.queues().update(name, paused=1)
    click.echo(f"work queue {name}: paused")


@work_queue.command("resume")
@click.argument("name")
@click.pass_obj
def work_queue_resume(app: App, name: str) -> None:
    """Runners claim runs from queue NAME again."""
    app.queues().update(name, paused=0)
    click.echo(f"work queue {name}: resumed")
