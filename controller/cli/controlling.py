"""``deployctl controller``, ``suspend`` and ``resume``: flags in, ``App`` builds the parts,
``services.controlling`` runs it until SIGTERM. Errors are one line, through the CLI's top level."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import listen_address
from controller.cli.syncing import source_options

if TYPE_CHECKING:
    from controller.app import App


@click.command()
@source_options
@click.option("--interval", default=60.0, show_default=True, help="Seconds between remote checks (±10 %).")
@click.option("--drift-interval", default=300.0, show_default=True, help="Seconds between drift passes.")
@click.option(
    "--drift",
    type=click.Choice(["restore", "report-only", "off"]),
    default="restore",
    show_default=True,
    help="What a drift pass does with changes made in the registry.",
)
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    envvar="DEPLOYCTL_LISTEN",
    help="HOST:PORT for probes, metrics, status and webhooks [env DEPLOYCTL_LISTEN].",
)
@click.option("--lease", "lease_seconds", default=15.0, show_default=True, help="Writer lease, seconds.")
@click.option("--shutdown-grace", default=30.0, show_default=True, help="Seconds a pass may take at SIGTERM.")
@click.option("--no-engine", is_flag=True, help="Do not run the embedded scheduler and runner.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text, or one JSON object per line.",
)
@click.pass_obj
def controller(
    app: App,
    /,
    source: str,
    ref: str | None,
    subpath: str,
    interval: float,
    drift_interval: float,
    drift: str,
    listen: str,
    lease_seconds: float,
    shutdown_grace: float,
    no_engine: bool,
    log_format: str,
    **flags: Any,
) -> None:
    """Watch SOURCE and keep the registry matching it: polling, webhooks, drift, health, metrics."""
    from controller.ports import SourceSpec
    from controller.services.controlling import start_controller

    listen_address(listen, "0.0.0.0:8080")  # checked here: the service takes it as given
    code = start_controller(
        app.controller_parts,
        SourceSpec(source, ref, subpath),
        os.environ,
        interval=interval,
        drift_interval=drift_interval,
        drift=drift,
        listen=listen,
        lease_seconds=lease_seconds,
        shutdown_grace=shutdown_grace,
        engine=not no_engine,
        log_format=log_format,
        on_listening=lambda url: click.echo(f"listening on {url}"),
        **flags,
    )
    sys.exit(code)


@click.command()
@click.argument("owner")
@click.pass_obj
def suspend(app: App, owner: str) -> None:
    """Stop applying OWNER's source until `deployctl resume OWNER`; its controller keeps reporting."""
    app.set_suspended(owner, True)
    click.echo(f"{owner}: suspended")


@click.command()
@click.argument("owner")
@click.pass_obj
def resume(app: App, owner: str) -> None:
    """Resume applying OWNER's source at its controller's next tick."""
    app.set_suspended(owner, False)
    click.echo(f"{owner}: resumed")
