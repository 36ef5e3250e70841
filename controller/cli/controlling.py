"""``deployctl controller``, ``suspend`` and ``resume``: flags in, ``App`` builds the parts,
``run_controller`` runs until SIGTERM. Errors are one line, through the CLI's top level."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import click

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
    from controller.core.redaction import SECRET_VALUES, short_secret
    from controller.engine.reconciler import SyncOptions
    from controller.errors import ConfigError
    from controller.ports import SourceSpec
    from controller.runtime.controlling.logs import configure_logging
    from controller.runtime.controlling.policy import Timing
    from controller.runtime.controlling.service import ControllerSettings, run_controller
    from controller.runtime.controlling.webhooks import load_secret

    host, _, port = listen.rpartition(":")
    if not port.isdigit():
        raise click.BadParameter(f"{listen!r}: use HOST:PORT, e.g. 0.0.0.0:8080", param_hint="--listen")
    webhook_secret = load_secret(os.environ)
    if problem := short_secret("the secret in DEPLOYCTL_WEBHOOK_SECRET_FILE", webhook_secret):
        raise ConfigError(problem)
    configure_logging(log_format, [webhook_secret, *(os.environ.get(name) for name in SECRET_VALUES)])
    spec = SourceSpec(source, ref, subpath)
    settings = ControllerSettings(
        options=SyncOptions(**flags),
        timing=Timing(interval=interval, drift_interval=drift_interval),
        drift=drift,
        listen=(host or "127.0.0.1", int(port)),
        lease_seconds=lease_seconds,
        grace=shutdown_grace,
        webhook_secret=webhook_secret,
        ref=ref,
    )
    parts = app.controller_parts(
        spec, lease_seconds, engine=not no_engine, git_timeout=settings.git_timeout()
    )
    sys.exit(run_controller(parts, settings, on_listening=lambda url: click.echo(f"listening on {url}")))


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
