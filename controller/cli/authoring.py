"""``deployctl deployment build | apply``: Prefect 2's authoring commands, the GitOps way.

``build`` writes (or edits in place) a deployment.yaml with ``prefect deployment build``'s
options; ``--apply`` shows what the file would change and says to commit, because nothing
reaches a registry without a commit. ``apply FILE…`` syncs the deployments those committed
files declare, at HEAD: one reconcile pass restricted to the files (``SyncOptions.only_files``),
so plan, safety checks and exit codes are ``sync``'s.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controller.cli.common import EXIT_OK
from controller.cli.deployments import deployment
from controller.cli.syncing import format_option

if TYPE_CHECKING:
    from controller.app import App


@deployment.command("build")
@click.argument("entrypoint", metavar="PATH:FUNCTION")
@click.option("--name", "-n", help="The deployment's name.")
@click.option("--description", "-d", help="The description [the flow's docstring].")
@click.option("--version", "-v", help="A version [the md5 of the flow's file, as Prefect 2].")
@click.option("--tag", "-t", "tags", multiple=True, help="A tag (repeat for more).")
@click.option("--work-queue", "-q", help="The work queue of its runs [default].")
@click.option("--pool", "-p", help="The work pool of its runs.")
@click.option("--limit", "-l", type=int, help="Accepted as Prefect 2 does; not written.")
@click.option("--infra", "-i", help="process, docker-container or kubernetes-job, with Prefect 2's defaults.")
@click.option("--infra-block", "-ib", help="A saved infrastructure block TYPE/NAME (written by reference).")
@click.option("--override", "overrides", multiple=True, help="A dotted job-variable override: env.KEY=VALUE.")
@click.option("--storage-block", "-sb", help="A saved storage block TYPE/NAME[/PATH] (written by reference).")
@click.option("--skip-upload", is_flag=True, help="Accepted: deployctl packages the code at sync.")
@click.option("--cron", help="A cron schedule.")
@click.option("--interval", type=float, help="An interval schedule, in seconds.")
@click.option("--anchor-date", help="The interval's anchor [2020-01-01T00:00:00+00:00].")
@click.option("--rrule", help="An RFC 5545 rule (or Prefect's JSON form).")
@click.option("--timezone", help="The schedule's IANA time zone.")
@click.option("--no-schedule", is_flag=True, help="Write no schedule.")
@click.option("--path", help="The path Prefect 2 writes for the code (deployctl reads code beside the file).")
@click.option("--output", "-o", help="The file to write [FUNCTION-deployment.yaml here, as Prefect 2].")
@click.option("--param", multiple=True, help="A parameter KEY=VALUE (a JSON value, else text).")
@click.option("--params", help="Parameters as a JSON object.")
@click.option("--apply", "-a", "preview", is_flag=True, help="Show the plan for this file (commit to apply).")
@click.pass_obj
def deployment_build(app: App, /, entrypoint: str, preview: bool, limit: int | None, skip_upload: bool,
                     tags: tuple[str, ...], overrides: tuple[str, ...], **options: Any) -> None:  # fmt: skip
    """Write PATH:FUNCTION's deployment.yaml as `prefect deployment build` does (never importing
    the flow). An existing file keeps everything but the fields the options name."""
    from controller.services.authoring import build_deployment
    from controller.services.build_options import BuildRequest

    request = BuildRequest(
        entrypoint, options.pop("name") or "", tags=tags, overrides=overrides,
        work_queue=options.pop("work_queue"), **options,
    )  # fmt: skip
    built, written = build_deployment(request, Path.cwd())
    shown = os.path.relpath(written.path)
    if written.created:
        click.echo(f"wrote {shown} ({built.fields['flow_name']}/{built.fields['name']})")
    elif written.changed:
        click.echo(f"updated {shown}: {', '.join(written.changed)}")
    else:
        click.echo(f"{shown} is up to date")
    for name in built.unresolved:
        click.echo(f"warning: parameter '{name}' has an annotation deployctl cannot read without "
                   "importing the flow: its schema accepts any value", err=True)  # fmt: skip
    if limit is not None:
        click.echo("note: --limit is not written to the file; set the queue's limit instead", err=True)
    if preview:
        _preview(app, written.path)
    sys.exit(EXIT_OK)


def _preview(app: App, path: Path) -> None:
    from controller.errors import NotFound
    from controller.services.authoring import preview_file

    try:
        registry = app.reading_only().registry()
    except NotFound:  # no registry yet: everything in the file would be created
        registry = None
    for line in preview_file(registry, path):
        click.echo(line)
    click.echo(
        f"nothing was applied: commit {os.path.relpath(path)}, then run "
        f"'deployctl deployment apply {os.path.relpath(path)}' (or push it to the controller's branch)"
    )


@deployment.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Path(file_okay=False, path_type=Path),
    help="The folder synced as SOURCE [the nearest folder above the files with a .deployctl.yaml, "
    "else the repository's top level].",
)
@click.option("--owner", help="Owner id [as sync derives it for SOURCE].")
@click.option("--partial", is_flag=True, help="Apply even when other files of the commit are invalid.")
@click.option("--allow-rewind", is_flag=True, help="As sync: apply a commit after a force-push.")
@click.option("--adopt-owner", is_flag=True, help="As sync: move the owner to this repository.")
@format_option
@click.pass_obj
def deployment_apply(
    app: App, /, files: tuple[Path, ...], source: Path | None, output: str, **flags: Any
) -> None:
    """Sync only the deployments FILE… declare, as committed at HEAD (`prefect deployment apply`,
    the GitOps way). A file that is not committed, or has uncommitted changes, is refused.
    Exit 0 applied, 2 any error or refusal (as sync)."""
    from controller.cli.syncing import exit_code, reconcile, render_result

    folder = source if source is not None else source_folder(files[0])
    relative = frozenset(_inside(folder, f) for f in files)
    result = reconcile(app, str(folder), None, "", dry_run=False, only_files=relative, **flags)
    render_result(result, output, "Applied", "deployment apply")
    sys.exit(exit_code(result, planning=False))


def source_folder(file: Path) -> Path:
    """The folder ``deployctl sync`` would be given for ``file``: the nearest one above it with a
    ``.deployctl.yaml``, else the repository's top level (the folder holding ``.git``)."""
    start = file.resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".deployctl.yaml").is_file():
            return _typed(folder)
        if (folder / ".git").exists():
            return _typed(folder)
    return _typed(start)


def _typed(folder: Path) -> Path:
    """As the user would type it: relative to where deployctl was started."""
    return Path(os.path.relpath(folder))


def _inside(folder: Path, file: Path) -> str:
    try:
        return file.resolve().relative_to(folder.resolve()).as_posix()
    except ValueError:
        raise click.BadParameter(
            f"'{file}' is not inside the source folder '{folder}'", param_hint="FILE"
        ) from None
