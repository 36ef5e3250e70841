"""``deployctl history``, ``deployment history``, ``rollback`` and ``release``.

Each command parses its flags, calls ``controller.services.history`` through ``App`` and
renders. ``rollback`` exits as ``sync`` does: 0 when the revision is applied and held, 2 when
the pass failed or was refused (and then nothing is held).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from controller.cli.common import EXIT_ERROR, EXIT_OK, echo_json, echo_rows, output_option
from controller.cli.deployments import deployment
from controller.cli.syncing import render_result

if TYPE_CHECKING:
    from controller.app import App

limit_option = click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="Show at most this many."
)


@click.command()
@click.argument("owner", required=False)
@limit_option
@output_option
@click.pass_obj
def history(app: App, owner: str | None, limit: int, output: str) -> None:
    """The passes of OWNER (default: every owner), newest first: when, which revision, what
    started each (cli, poll, webhook, drift, rollback), its outcome and changes."""
    from controller.services.history import owner_passes, pass_rows

    passes = owner_passes(app.reading_only().history(), app.registry(), owner, limit)
    if output == "json":
        echo_json([p.to_json() for p in passes])
        return
    columns = ["started_at", "owner", "revision", "trigger", "outcome", "changes", "duration", "error"]
    if owner is not None:
        columns.remove("owner")
    empty = f"no pass {f'of {owner} ' if owner else ''}in the history of {app.registry().location}"
    echo_rows(pass_rows(passes), columns, output, empty)


@deployment.command("history")
@click.argument("identity", metavar="FLOW/NAME")
@limit_option
@output_option
@click.pass_obj
def deployment_history(app: App, identity: str, limit: int, output: str) -> None:
    """The versions one deployment went through, and when: each pass that wrote it."""
    from controller.services.history import deployment_passes, deployment_rows

    passes = deployment_passes(app.reading_only().history(), app.registry(), identity, limit)
    rows = deployment_rows(identity, passes)
    columns = ["started_at", "action", "version", "revision", "trigger", "outcome", "owner"]
    echo_rows(rows, columns, output, f"no pass in the history wrote {identity}")


@click.command()
@click.argument("owner")
@click.option("--to", "to", required=True, metavar="REVISION", help="A commit OWNER applied before.")
@click.option("--allow-empty", is_flag=True, help="Allow a plan that deletes every owned deployment.")
@click.option("--force-prune", is_flag=True, help="Allow deleting more than the prune cap (default 50 %).")
@click.option("--dry-run", is_flag=True, help="Only show the plan; apply and hold nothing.")
@output_option
@click.pass_obj
def rollback(
    app: App, owner: str, to: str, allow_empty: bool, force_prune: bool, dry_run: bool, output: str
) -> None:
    """Apply REVISION of OWNER's source again, with sync's safety checks, and hold OWNER there:
    its controller and CI syncs apply nothing else until `deployctl release OWNER`."""
    from controller.services.feedback import notify_hold

    notifier = None if dry_run else app.notifier()  # a bad settings file stops before the pass
    try:
        done = app.rollback(owner, to, dry_run, allow_empty=allow_empty, force_prune=force_prune)
        result = done.result
        render_result(result, output, "Plan" if dry_run else "Applied", "rollback")
        if notifier is not None and done.hold is not None and result.ok:
            where = (result.repo_url, result.ref, result.path)
            notify_hold(notifier, owner, done.hold.revision, True, done.head, where)
    finally:
        if notifier is not None:
            notifier.close()
    if done.hold is not None and not dry_run and result.ok:
        head = f"; HEAD is {done.head[:12]}" if done.head else ""
        click.echo(
            f"{owner}: held at {done.hold.revision[:12]}{head} (deployctl release {owner} to follow "
            f"'{result.ref}' again)",
            err=output == "json",
        )
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


@click.command()
@click.argument("owner")
@click.pass_obj
def release(app: App, owner: str) -> None:
    """Let OWNER follow its ref again after a rollback; its controller applies the head at once."""
    from controller.services.feedback import notify_hold

    notifier = app.notifier()  # a bad settings file stops before the release
    try:
        hold = app.release(owner)
        if hold is None:
            click.echo(f"{owner}: not held; nothing to release")
            return
        status = app.registry().read_status(owner)
        where = (status.repo_url, status.ref, status.path) if status is not None else ("", "", "")
        notify_hold(notifier, owner, hold.revision, False, None, where)
        click.echo(f"{owner}: released (was held at {hold.revision[:12]} since {hold.since})")
    finally:
        notifier.close()
