"""``deployctl variable set|get|ls|unset``: the registry's variables for ``{{ prefect.variables.x }}``.

Against a Prefect server, ``get`` and ``ls`` read its variables and ``set``/``unset`` refuse
(Prefect's own CLI manages them). A change takes effect at the next plan or sync.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controller.cli.common import echo_json, echo_rows, output_option

if TYPE_CHECKING:
    from controller.app import App
    from controller.services.variables import Variables


def _service(app: App) -> Variables:
    from controller.services.variables import Variables

    registry = app.registry()
    return Variables(registry, app.capabilities.variables_writable, registry.location)


@click.group()
def variable() -> None:
    """Variables that {{ prefect.variables.NAME }} placeholders read."""


@variable.command("set")
@click.argument("name")
@click.argument("value")
@click.pass_obj
def set_(app: App, name: str, value: str) -> None:
    """Set variable NAME to VALUE (created or replaced)."""
    _service(app).set(name, value)
    click.echo(f"variable {name} set")


@variable.command()
@click.argument("name")
@output_option
@click.pass_obj
def get(app: App, name: str, output: str) -> None:
    """Print the value of variable NAME."""
    value = _service(app.reading_only()).get(name)
    if output == "json":
        echo_json({"name": name, "value": value})
    else:
        click.echo(value)


@variable.command("ls")
@output_option
@click.pass_obj
def ls(app: App, output: str) -> None:
    """List the variables."""
    rows = [{"name": k, "value": v} for k, v in sorted(_service(app.reading_only()).all().items())]
    echo_rows(rows, ["name", "value"], output, "no variables ('deployctl variable set NAME VALUE')")


@variable.command()
@click.argument("name")
@click.pass_obj
def unset(app: App, name: str) -> None:
    """Delete variable NAME."""
    _service(app).unset(name)
    click.echo(f"variable {name} unset")
