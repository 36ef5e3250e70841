"""Pieces every deployctl command shares: exit codes, the --output option, registry opening."""

from __future__ import annotations

from pathlib import Path

import click

from controller.adapters.registry.sqlite import parse_sqlite_url
from controller.adapters.registry.sqlite_runs import RunStore
from controller.app import open_registry
from controller.settings import Settings

EXIT_OK, EXIT_CHANGES, EXIT_INVALID = 0, 1, 2

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


def database_path(settings: Settings) -> Path:
    return parse_sqlite_url(settings.registry_url)


def open_runs(settings: Settings) -> RunStore:
    open_registry(settings).close()  # creates and migrates the database if needed
    return RunStore(database_path(settings))
