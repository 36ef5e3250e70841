"""The ``deployctl`` command: global options, the command groups, and the one error mapping.

Every command parses its flags, calls one service and renders the result. Here, and only
here, errors become exit codes: a ``DeployctlError`` or a usage mistake is one line on stderr
and exit code 2, never a traceback. Global options (``--registry``, ``--storage``, ``--home``)
work before or after the subcommand. Heavy libraries are imported by the commands that use them.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

import click

from controller import __version__
from controller.cli.common import EXIT_ERROR
from controller.errors import DeployctlError

GLOBAL_OPTIONS = ("--registry", "--storage", "--home")


class Terminated(BaseException):
    """SIGTERM, raised where the main thread is, so that it unwinds as Ctrl-C does: open
    transactions roll back and running git commands are killed (not left orphaned)."""


def _terminate(*_: object) -> None:
    raise Terminated


class DeployctlGroup(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(args))

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        extra["standalone_mode"] = False
        extra.setdefault("prog_name", "deployctl")
        # long-running commands (up, runner, controller) put their own graceful handler in place
        main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _terminate) if main_thread else None
        try:
            code = super().main(args, *rest, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            code = 130
        except click.UsageError as exc:
            where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{where}", err=True)
            code = EXIT_ERROR
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            code = EXIT_ERROR
        except DeployctlError as exc:
            click.echo(f"error: {exc}", err=True)
            code = EXIT_ERROR
        except KeyboardInterrupt:
            code = 130
        except Terminated:
            code = 143
        except Exception as exc:  # a bug in deployctl: one line, the traceback only on request
            if os.environ.get("DEPLOYCTL_DEBUG"):
                raise
            click.echo(
                f"internal error (a bug in deployctl): {type(exc).__name__}: {exc}; "
                "set DEPLOYCTL_DEBUG=1 for the traceback",
                err=True,
            )
            code = EXIT_ERROR
        finally:
            if previous is not None:  # called in-process (tests, the Python API): put it back
                signal.signal(signal.SIGTERM, previous)
        sys.exit(code if isinstance(code, int) else 0)


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options written after the subcommand to the front (``sync --registry X``)."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg.split("=", 1)[0] in GLOBAL_OPTIONS:
            width = 1 if "=" in arg else 2
            front += args[index : index + width]
            index += width
            continue
        rest.append(arg)
        index += 1
    return front + rest


@click.group(cls=DeployctlGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="deployctl")
@click.option(
    "--registry",
    envvar="DEPLOYCTL_REGISTRY",
    metavar="URL",
    help="Deployment registry: sqlite:///PATH (embedded), prefect (PREFECT_API_URL or the active "
    "profile) or prefect+https://HOST/api [env DEPLOYCTL_REGISTRY; default sqlite:///HOME/registry.db].",
)
@click.option(
    "--storage",
    envvar="DEPLOYCTL_STORAGE",
    metavar="URL",
    help="Artifact storage: a folder or an fsspec URL such as s3://bucket/prefix "
    "[env DEPLOYCTL_STORAGE; default HOME/storage].",
)
@click.option(
    "--home",
    envvar="DEPLOYCTL_HOME",
    metavar="DIR",
    help="deployctl's state folder: registry, git caches, artifacts, runs "
    "[env DEPLOYCTL_HOME; default ~/.deployctl].",
)
@click.pass_context
def main(ctx: click.Context, registry: str | None, storage: str | None, home: str | None) -> None:
    """GitOps controller for flow deployments."""
    from controller.app import App
    from controller.settings import Settings

    ctx.obj = App(Settings.resolve(registry, storage, home))
    ctx.call_on_close(ctx.obj.close)


def _register() -> None:
    from controller.cli import (
        authoring,
        controlling,
        deployments,
        engine,
        events,
        history,
        runs,
        syncing,
        ui,
        variables,
    )  # fmt: skip

    assert authoring.deployment_build.name in deployments.deployment.commands  # build joins the group
    assert history.deployment_history.name in deployments.deployment.commands

    for command in (
        syncing.plan,
        syncing.sync,
        syncing.status,
        syncing.validate,
        syncing.schema,
        deployments.deployment,
        runs.flow_run,
        engine.work_queue,
        engine.up,
        engine.scheduler,
        engine.runner,
        controlling.controller,
        controlling.suspend,
        controlling.resume,
        variables.variable,
        history.history,
        history.rollback,
        history.release,
        ui.ui,
        events.event,
    ):
        main.add_command(command)


_register()
