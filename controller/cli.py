"""The ``deployctl`` command: parses flags, calls the library, renders results, sets exit codes.

Exit codes follow CI conventions: 0 success / nothing to change, 1 changes pending (plan),
2 invalid input or failure. Every command that prints data takes ``--output json``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import click

from controller import __version__
from controller.core.diagnostics import Diagnostic, Severity
from controller.loading.loader import LoadResult, load_manifests
from controller.loading.schemas import stale_schemas, write_schemas
from controller.loading.tree import DirectoryTree

EXIT_OK, EXIT_CHANGES, EXIT_INVALID = 0, 1, 2

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Output format.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployctl")
def main() -> None:
    """GitOps controller for flow deployments."""


@main.command()
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@output_option
def validate(path: Path, output: str) -> None:
    """Validate every manifest under PATH (default: the current folder)."""
    result = load_manifests(DirectoryTree(path))
    if output == "json":
        click.echo(json.dumps(_validation_json(result), indent=2))
    else:
        _print_diagnostics(result.diagnostics)
        click.echo(_summary(result))
    sys.exit(EXIT_OK if result.ok else EXIT_INVALID)


@main.command()
@click.option("--write", is_flag=True, help="Write the schemas instead of checking them.")
@click.option(
    "--dir", "folder", default="schemas", show_default=True, type=click.Path(file_okay=False, path_type=Path)
)
def schema(write: bool, folder: Path) -> None:
    """Check (or --write) the JSON Schemas generated from the manifest models."""
    if write:
        for name in write_schemas(folder):
            click.echo(f"wrote {folder / name}")
        return
    stale = stale_schemas(folder)
    for name in stale:
        click.echo(f"{folder / name} is stale: run 'deployctl schema --write'", err=True)
    sys.exit(EXIT_INVALID if stale else EXIT_OK)


def _print_diagnostics(diagnostics: tuple[Diagnostic, ...]) -> None:
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=diagnostic.severity is Severity.ERROR)


def _summary(result: LoadResult) -> str:
    counts = Counter(d.severity for d in result.diagnostics)
    errors, warnings = counts[Severity.ERROR], counts[Severity.WARNING]
    text = (
        f"{len(result.specs)} deployments in {len(result.manifest_files)} files, "
        f"{errors} error{'s' * (errors != 1)}"
    )
    return text + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")


def _validation_json(result: LoadResult) -> dict[str, object]:
    return {
        "valid": result.ok,
        "files": list(result.manifest_files),
        "deployments": sorted(result.specs),
        "diagnostics": [d.to_json() for d in result.diagnostics],
        "summary": _summary(result),
    }
