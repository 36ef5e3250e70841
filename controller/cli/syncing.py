"""``deployctl plan | sync | status | validate | schema``: the GitOps commands.

``plan`` and ``sync`` share one reconcile pass (``App.reconciler``); ``plan`` stops before
building and applying. Exit codes: ``sync`` 0 applied, 2 any error or refusal; ``plan`` 0
nothing to do, 1 changes, 2 wherever ``sync`` of the same commit would refuse.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    echo_json,
    output_option,
    with_options,
)

if TYPE_CHECKING:
    from controller.app import App
    from controller.services.syncing import LoadResult, SyncResult

source_options = with_options(
    [
        click.argument("source", default="."),
        click.option("--ref", help="Branch, tag or commit [default: the remote's default branch, or HEAD]."),
        click.option(
            "--path", "subpath", default="", help="Sub-folder of the repository holding the manifests."
        ),
        click.option(
            "--owner",
            help="Owner id marking what this source manages [default: owner: in .deployctl.yaml, "
            "else derived from the repository, ref and path].",
        ),
        click.option(
            "--partial", is_flag=True, help="Apply valid files; freeze deployments of invalid ones."
        ),
        click.option("--allow-empty", is_flag=True, help="Allow a plan that deletes every owned deployment."),
        click.option(
            "--force-prune", is_flag=True, help="Allow deleting more than the prune cap (default 50 %)."
        ),
        click.option(
            "--allow-rewind",
            is_flag=True,
            help="Apply a commit that does not descend from the last applied one (after a force-push).",
        ),
        click.option(
            "--adopt-owner",
            is_flag=True,
            help="Move the owner to this repository when another repository's commit was applied "
            "under it last (its deployments this one does not declare are pruned).",
        ),
        click.option(
            "--full", is_flag=True, help="Plan every deployment even if the commit is already applied."
        ),
    ]
)

format_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text (like terraform plan), json, or markdown for a pull-request comment.",
)


def reconcile(
    app: App, source: str, ref: str | None, subpath: str, dry_run: bool, **flags: Any
) -> SyncResult:
    """One reconcile pass of SOURCE, with a progress line on a terminal."""
    from controller.ports import SourceSpec
    from controller.services.syncing import SyncOptions, run_pass

    progress = _Progress(enabled=sys.stderr.isatty())
    reconciler = app.reconciler(SourceSpec(source, ref, subpath))
    result = run_pass(reconciler, SyncOptions(dry_run=dry_run, **flags), progress)
    progress.done()
    return result


def render_result(result: SyncResult, output: str, verb: str, command: str) -> None:
    """The document on stdout (text, JSON or markdown, each with every diagnostic), and, when
    the pass failed or was refused, one ``error:`` line on stderr in every format."""
    from controller.cli.rendering import render_markdown, render_text, result_json
    from controller.services.feedback import error_line

    if output == "json":
        echo_json(result_json(result))
    elif output == "markdown":
        click.echo(render_markdown(result, command))
    elif result.revision is not None:  # else the source could not be read: the error says it all
        click.echo(render_text(result, verb))
    line = error_line(result)
    if line:
        click.echo(f"error: {line}", err=True)


def exit_code(result: SyncResult, planning: bool) -> int:
    """The one rule for plan and sync: 2 wherever sync would refuse or fail."""
    from controller.core.diagnostics import Severity

    errors = any(d.severity is Severity.ERROR for d in result.diagnostics)
    if errors or not result.ok:
        return EXIT_ERROR
    if planning and result.plan is not None and result.plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


@click.command()
@source_options
@format_option
@click.option(
    "--comment",
    is_flag=True,
    help="Also post the markdown plan as one comment on the pull request (GitHub) or merge request "
    "(GitLab) this CI job runs for, updated in place on later pushes.",
)
@click.option(
    "--pull-request", "pull_request", type=int, help="The pull or merge request number [from the CI event]."
)
@click.pass_obj
def plan(
    app: App,
    /,
    source: str,
    ref: str | None,
    subpath: str,
    output: str,
    comment: bool,
    pull_request: int | None,
    **flags: Any,
) -> None:
    """Show what a sync of SOURCE would change. Exit 0: nothing, 1: changes, 2: error or refusal."""
    thread = app.pull_request_comments(pull_request) if comment else None  # found before the pass
    result = reconcile(app, source, ref, subpath, dry_run=True, **flags)
    render_result(result, output, "Plan", "plan")
    if thread is not None:
        from controller.cli.rendering import render_markdown

        marker = f"<!-- deployctl plan: {result.owner} -->"
        done = thread.upsert(marker, render_markdown(result, "plan"))
        click.echo(f"{done} the plan comment on the pull request", err=True)
    sys.exit(exit_code(result, planning=True))


@click.command()
@source_options
@format_option
@click.option("--dry-run", is_flag=True, help="Only plan (as 'deployctl plan', but exit 0 on changes).")
@click.pass_obj
def sync(
    app: App, /, source: str, ref: str | None, subpath: str, output: str, dry_run: bool, **flags: Any
) -> None:
    """Make the registry match SOURCE (a local repository path or a git URL). Exit 0 or 2.

    The notification receivers (see the README) hear how the pass ended; the command waits up
    to their ``drain_seconds`` for deliveries after printing its result."""
    from controller.services.feedback import notify_ci_pass

    notifier = None if dry_run else app.notifier()  # a bad settings file stops before the pass
    result = reconcile(app, source, ref, subpath, dry_run=dry_run, **flags)
    if notifier is not None:
        notify_ci_pass(notifier, result)
    render_result(result, output, "Plan" if dry_run else "Applied", "sync")
    if notifier is not None:
        notifier.close()
    sys.exit(exit_code(result, planning=False))


@click.command()
@click.option("--owner", help="Only this source's status.")
@output_option
@click.pass_obj
def status(app: App, owner: str | None, output: str) -> None:
    """Last attempted and applied revision, conditions and outcomes of each synced source."""
    from controller.services.status import source_reports

    registry = app.reading_only().registry()
    reports = [r.to_json() for r in source_reports(registry, owner, app.holds())]
    if output == "json":
        echo_json(reports)
        return
    if not reports:
        click.echo(f"no source has been synced into the registry {registry.location} yet")
    for item in reports:
        click.echo(
            f"{item['owner']}: {item['repository']} {item['ref']}"
            + (f" (path {item['path']})" if item["path"] else "")
        )
        click.echo(f"  last attempted: {item['last_attempted_revision'] or '-'}")
        click.echo(f"  last applied:   {item['last_applied_revision'] or '-'}")
        click.echo(f"  updated at:     {item['updated_at'] or '-'}")  # a failing source: since then
        if item["held"]:
            held = item["held"]
            click.echo(
                f"  held at:        {held['revision']} since {held['since']} (rolled back; "
                f"'deployctl release {item['owner']}' follows {item['ref']} again)"
            )
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


@click.command()
@click.argument("path", default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@format_option
@click.pass_obj
def validate(app: App, /, path: Path, output: str) -> None:
    """Validate every manifest in the folder PATH (default: the current folder). Exit 0 or 2.

    Text: each problem on its own line (errors on stderr), then the summary. JSON and markdown:
    the document on stdout with every problem, and one ``error:`` line on stderr when invalid."""
    from controller.core.diagnostics import Severity, first_problem
    from controller.services.syncing import validate_folder

    result = validate_folder(path, app.capabilities.runs_triggers, app.capabilities.trigger_kinds)
    if output == "text":
        for diagnostic in result.diagnostics:
            click.echo(str(diagnostic), err=diagnostic.severity is Severity.ERROR)
        click.echo(_summary(result))
    else:
        if output == "json":
            echo_json(_validation_json(result))
        else:
            click.echo(_validation_markdown(path, result))
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        if errors:
            click.echo(f"error: {len(errors)} problem(s) in the manifests: {first_problem(errors)}", err=True)
    sys.exit(EXIT_OK if result.ok else EXIT_ERROR)


@click.command()
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--write", is_flag=True, help="Write the schemas into FOLDER instead of checking them.")
def schema(folder: Path | None, write: bool) -> None:
    """Write (--write DIR) or check the JSON Schemas of deployment.yaml, prefect.yaml,
    .deployctl.yaml and notifications.yaml, generated from deployctl's own models. FOLDER defaults
    to ./schemas."""
    from controller.services.syncing import check_schemas, write_schemas

    folder = folder or Path("schemas")
    if write:
        for name in write_schemas(folder):
            click.echo(f"wrote {folder / name}")
        return
    if not folder.is_dir():
        click.echo(
            f"there is no {folder}/ folder here to check; 'deployctl schema --write DIR' writes the "
            "schemas for your editor (see the README's editor line)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
    stale = check_schemas(folder)
    for name in stale:
        click.echo(
            f"{folder / name} differs from this deployctl's models: run 'deployctl schema --write {folder}'",
            err=True,
        )
    sys.exit(EXIT_ERROR if stale else EXIT_OK)


def _summary(result: LoadResult) -> str:
    from collections import Counter

    from controller.core.diagnostics import Severity

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


def _validation_markdown(path: Path, result: LoadResult) -> str:
    from controller.cli.rendering import diagnostics_markdown

    verdict = "valid" if result.ok else "invalid"
    head = [f"### deployctl validate `{path}`: {verdict}", ""]
    return "\n".join([*head, *diagnostics_markdown(result.diagnostics), f"**{_summary(result)}**"])
