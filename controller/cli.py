"""The ``deployctl`` command: parses flags, calls the library, renders results, sets exit codes.

Exit codes follow CI conventions: 0 success / nothing to change, 1 changes pending (plan),
2 invalid input or failure. Every command that prints data takes ``--output json``.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from controller import __version__
from controller.adapters.git_source import SourceSpec
from controller.app import build_reconciler, open_registry
from controller.cli_common import EXIT_CHANGES, EXIT_INVALID, EXIT_OK, output_option
from controller.core.diagnostics import Diagnostic, Severity
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.errors import DeployctlError
from controller.loading.loader import LoadResult, load_manifests
from controller.loading.schemas import stale_schemas, write_schemas
from controller.loading.tree import DirectoryTree
from controller.rendering import render_markdown, render_text, result_json
from controller.settings import Settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployctl")
@click.option(
    "--registry",
    envvar="DEPLOYCTL_REGISTRY",
    help="Registry URL [default: sqlite:///.deployctl/registry.db].",
)
@click.option("--storage", envvar="DEPLOYCTL_STORAGE", help="Artifact storage: a folder or an fsspec URL.")
@click.option(
    "--state-dir", envvar="DEPLOYCTL_STATE_DIR", help="Folder for caches and defaults [.deployctl]."
)
@click.pass_context
def main(ctx: click.Context, registry: str | None, storage: str | None, state_dir: str | None) -> None:
    """GitOps controller for flow deployments."""
    ctx.obj = Settings.resolve(registry, storage, state_dir)


def source_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.argument("source", default="."),
        click.option("--ref", help="Branch, tag or commit [default: the remote's default branch, or HEAD]."),
        click.option(
            "--path", "subpath", default="", help="Sub-folder of the repository holding the manifests."
        ),
        click.option(
            "--owner",
            help="Owner id marking what this source manages [default: .deployctl.yaml, "
            "else derived from repository, ref and path].",
        ),
        click.option(
            "--partial", is_flag=True, help="Apply valid files; freeze deployments of invalid ones."
        ),
        click.option("--allow-empty", is_flag=True, help="Allow a plan that deletes every owned deployment."),
        click.option("--force-prune", is_flag=True, help="Allow deleting more than the prune cap."),
        click.option(
            "--allow-rewind",
            is_flag=True,
            help="Apply a commit that is not a descendant of the last applied one (after a force-push).",
        ),
        click.option(
            "--full", is_flag=True, help="Plan every deployment even if the commit is already applied."
        ),
        click.option(
            "--output",
            "-o",
            type=click.Choice(["text", "json", "markdown"]),
            default="text",
            show_default=True,
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(
    settings: Settings, source: str, ref: str | None, subpath: str, output: str, dry_run: bool, **flags: Any
) -> SyncResult:
    try:
        reconciler = build_reconciler(settings, SourceSpec(source, ref, subpath))
    except DeployctlError as exc:
        raise click.ClickException(str(exc)) from None
    progress = _Progress(enabled=sys.stderr.isatty() and output == "text")
    result = reconciler.reconcile_once(SyncOptions(dry_run=dry_run, **flags), progress)
    progress.done()
    if output == "json":
        click.echo(json.dumps(result_json(result), indent=2))
    elif output == "markdown":
        click.echo(render_markdown(result))
    else:
        click.echo(render_text(result, "Plan" if dry_run else "Applied"))
    return result


@main.command()
@source_options
@click.pass_obj
def plan(
    settings: Settings, /, source: str, ref: str | None, subpath: str, output: str, **flags: Any
) -> None:
    """Show what a sync of SOURCE would change. Exit 0: nothing, 1: changes, 2: error."""
    result = _run(settings, source, ref, subpath, output, dry_run=True, **flags)
    if result.error or result.diagnostics:
        sys.exit(EXIT_INVALID)
    sys.exit(EXIT_CHANGES if result.plan is not None and result.plan.has_changes else EXIT_OK)


@main.command()
@source_options
@click.option("--dry-run", is_flag=True, help="Only plan (same as 'deployctl plan').")
@click.pass_obj
def sync(
    settings: Settings,
    /,
    source: str,
    ref: str | None,
    subpath: str,
    output: str,
    dry_run: bool,
    **flags: Any,
) -> None:
    """Make the registry match SOURCE (a local repository path or a git URL). Exit 0 or 2."""
    result = _run(settings, source, ref, subpath, output, dry_run=dry_run, **flags)
    if dry_run:
        sys.exit(EXIT_INVALID if result.error else EXIT_OK)
    sys.exit(EXIT_OK if result.ok and not result.diagnostics else EXIT_INVALID)


@main.command()
@click.option("--owner", help="Only this source's status.")
@output_option
@click.pass_obj
def status(settings: Settings, owner: str | None, output: str) -> None:
    """Last attempted and applied revision, conditions and outcomes of each synced source."""
    registry = open_registry(settings)
    statuses = [s for s in registry.list_statuses() if owner in (None, s.owner)]
    report: list[dict[str, Any]] = []
    for st in statuses:
        runs = registry.list_sync_runs(st.owner, limit=1)
        outcomes = registry.list_outcomes(runs[0]["id"]) if runs else []
        report.append(
            {
                "owner": st.owner,
                "repository": st.repo_url,
                "ref": st.ref,
                "path": st.path,
                "last_attempted_revision": st.last_attempted_revision,
                "last_applied_revision": st.last_applied_revision,
                "updated_at": st.updated_at,
                "conditions": [c.to_json() for c in st.conditions],
                "last_outcomes": outcomes,
            }
        )
    if output == "json":
        click.echo(json.dumps(report, indent=2))
        return
    if not report:
        click.echo("no source has been synced into this registry yet")
    for item in report:
        click.echo(
            f"{item['owner']}: {item['repository']} {item['ref']}"
            + (f" (path {item['path']})" if item["path"] else "")
        )
        click.echo(f"  last attempted: {item['last_attempted_revision'] or '-'}")
        click.echo(f"  last applied:   {item['last_applied_revision'] or '-'}")
        for c in item["conditions"]:
            click.echo(f"  {c['type']}={str(c['status']).lower()} {c['reason']}: {c['message']}")
        for o in item["last_outcomes"]:
            click.echo(f"  {o['action']:<7} {o['deployment_id']}: {o['outcome']} {o['message']}".rstrip())


class _Progress:
    """Step names on stderr, for passes that take more than a second, on a terminal only."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.started, self.shown = enabled, time.monotonic(), False

    def __call__(self, step: str) -> None:
        if self.enabled and time.monotonic() - self.started > 1:
            click.echo(f"\r\033[K{step}…", nl=False, err=True)
            self.shown = True

    def done(self) -> None:
        if self.shown:
            click.echo("\r\033[K", nl=False, err=True)


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


def _register() -> None:
    from controller.cli_deployments import deployment
    from controller.cli_runs import flow_run, runner, scheduler, up, work_queue

    for command in (deployment, flow_run, work_queue, up, scheduler, runner):
        main.add_command(command)


_register()
