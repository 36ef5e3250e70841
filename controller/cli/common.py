"""Pieces every command shares: the app from the context, the --output option, tables, exit codes.

Exit codes (one table, in the README): 0 ok; 1 only from ``plan``, when there are changes;
2 any error or refusal. ``controller.cli`` maps every error to 2 in one place.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

EXIT_OK, EXIT_CHANGES, EXIT_ERROR = 0, 1, 2

F = TypeVar("F", bound=Callable[..., Any])

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[str(row.get(c) if row.get(c) is not None else "-") for c in columns] for row in rows]
    widths = [max([len(c.upper())] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def echo_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], output: str, empty: str) -> None:
    """A table (or JSON); an empty table says what it looked at instead of printing headers alone."""
    if output == "json":
        echo_json(list(rows))
    elif not rows:
        click.echo(empty)
    else:
        click.echo(render_table(rows, columns))


def with_options(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def listen_address(listen: str, example: str) -> tuple[str, int]:
    """``--listen HOST:PORT`` as (host, port); anything else is one usage line, not a bind error."""
    host, _, port = listen.rpartition(":")
    if not port.isdigit() or int(port) > 65535:  # 0: any free port
        raise click.BadParameter(
            f"{listen!r}: use HOST:PORT with a port up to 65535, e.g. {example}", param_hint="--listen"
        )
    return host.strip("[]"), int(port)
