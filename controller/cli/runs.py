"""``deployctl flow-run …``: list, inspect, follow the logs of, and cancel flow runs.

A run is named by its id or a prefix of it that matches one run only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.common import echo_json, echo_rows, output_option
from controller.cli.events import triggered_by

if TYPE_CHECKING:
    from controller.app import App
    from controller.core.runs import FlowRun
    from controller.ports import RunView
    from controller.services.runs import LogLine


@click.group("flow-run")
def flow_run() -> None:
    """List, inspect, follow and cancel flow runs (embedded registry)."""


@flow_run.command("ls")
@click.option("--deployment", metavar="FLOW/NAME", help="Only runs of this deployment.")
@click.option("--state", help="Only runs in this state type or name, any case (completed, Late …).")
@click.option("--limit", default=50, show_default=True, help="At most this many runs, newest first.")
@output_option
@click.pass_obj
def flow_run_ls(app: App, deployment: str | None, state: str | None, limit: int, output: str) -> None:
    """List flow runs, newest first."""
    runs = app.reading_only().runs()
    rows = [_run_row(r) for r in runs.all(deployment, state, limit)]
    columns = ["id", "deployment", "state", "expected_start_time", "start_time", "end_time"]
    echo_rows(rows, columns, output, f"no flow runs in {runs.store.location} match")


@flow_run.command("inspect")
@click.argument("run_id")
@click.pass_obj
def flow_run_inspect(app: App, run_id: str) -> None:
    """Show a run with its parameters and state history (JSON)."""
    runs = app.reading_only().runs()
    run = runs.get(run_id)
    echo_json(
        {
            **_run_row(run),
            "parameters": run.parameters,
            "tags": list(run.tags),
            "message": run.state_message,
            "run_count": run.run_count,
            "states": runs.states(run),
            **triggered_by(app, run.idempotency_key),
        }
    )


@flow_run.command("logs")
@click.argument("run_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the run finishes.")
@click.pass_obj
def flow_run_logs(app: App, run_id: str, follow: bool) -> None:
    """Print a run's output, line by line."""
    runs = app.reading_only().runs()
    run = runs.get(run_id)
    for line in runs.follow(run.id) if follow else runs.logs(run):
        echo_log_line(line)


@flow_run.command("cancel")
@click.argument("run_id")
@click.pass_obj
def flow_run_cancel(app: App, run_id: str) -> None:
    """Cancel a run: at once if it has not started, else SIGTERM then SIGKILL by its runner."""
    run = app.runs().cancel(run_id)
    if run.state_type.terminal:
        click.echo(f"cancelled flow run {run.id}")
    else:
        click.echo(f"cancelling flow run {run.id}: its runner stops the process (SIGTERM, then SIGKILL)")


def echo_log_line(line: LogLine) -> None:
    from controller.core.log_text import printable

    timestamp, stream, text = line
    click.echo(f"{timestamp} {stream}: {printable(text)}", err=stream == "stderr")


def final_line(run: RunView) -> str:
    message = run.state_message.strip()
    detail = message.splitlines()[-1] if message else ""
    return f"flow run {run.id} finished: {run.state_name}" + (f" ({detail})" if detail else "")


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
