"""``deployctl ui``: the read-only status pages of the registry, on their own port.

The command parses ``--listen`` and serves until Ctrl-C or SIGTERM; what the pages show is
``controller.services.pages``, how they are served ``controller.runtime.pages_http`` (through
``App.pages_server``). The controller serves the same pages at ``/`` of its own port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.common import listen_address

if TYPE_CHECKING:
    from controller.app import App


@click.command("ui")
@click.option(
    "--listen",
    default="127.0.0.1:8765",
    show_default=True,
    envvar="DEPLOYCTL_UI_LISTEN",
    metavar="HOST:PORT",
    help="Where to serve the pages [env DEPLOYCTL_UI_LISTEN]; any address but loopback needs "
    "DEPLOYCTL_UI_TOKEN, which a browser gives once as ?token=.",
)
@click.pass_obj
def ui(app: App, listen: str) -> None:
    """Serve read-only status pages: sources, deployments, runs and their logs."""
    from controller.cli import Terminated

    host, port = listen_address(listen, "127.0.0.1:8765")
    app.reading_only().registry()  # a registry that is not there is said now, not on every page
    server = app.pages_server((host or "127.0.0.1", port))
    click.echo(f"serving the status pages of {app.registry().location} at {server.url}/ (Ctrl-C stops)")
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, Terminated):
        pass
    finally:
        server.server_close()
