"""Runs the continuous controller as ``deployctl controller`` will, for the process tests.

Until the CLI command is wired this is the composition the tests start as a real process:
``python tests/controller_main.py SOURCE --home DIR [--listen HOST:PORT] [--interval S] …``.
It prints the URL it listens on as its first line of output.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controller.adapters.git_remote import RemoteHead  # noqa: E402
from controller.adapters.registry.sqlite import parse_sqlite_url  # noqa: E402
from controller.adapters.registry.sqlite_lease import SqliteOwnerControl  # noqa: E402
from controller.app import App, open_registry  # noqa: E402
from controller.engine.reconciler import SyncOptions  # noqa: E402
from controller.ports import SourceSpec  # noqa: E402
from controller.runtime.controlling.policy import Timing  # noqa: E402
from controller.runtime.controlling.service import (  # noqa: E402
    ControllerParts,
    ControllerSettings,
    default_holder,
    run_controller,
)
from controller.runtime.controlling.webhooks import load_secret  # noqa: E402
from controller.services.status import source_reports  # noqa: E402
from controller.settings import Settings  # noqa: E402


def main() -> int:
    args = _parser().parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.resolve(home=args.home)
    spec = SourceSpec(args.source, args.ref, args.path)
    database = parse_sqlite_url(settings.registry_url)
    holder = default_holder()
    parts = ControllerParts(
        source=RemoteHead(spec),
        reconciler=App(settings).reconciler(spec),
        open_control=lambda owner: SqliteOwnerControl(database, owner, holder, args.lease),
        status_report=lambda owner: _status(settings, owner),
    )
    host, _, port = args.listen.rpartition(":")
    return run_controller(
        parts,
        ControllerSettings(
            options=SyncOptions(owner=args.owner),
            timing=Timing(interval=args.interval, drift_interval=args.drift_interval),
            drift=args.drift,
            listen=(host, int(port)),
            lease_seconds=args.lease,
            grace=args.grace,
            webhook_secret=load_secret(os.environ),
            ref=args.ref,
        ),
        on_listening=lambda url: print(url, flush=True),
    )


def _status(settings: Settings, owner: str) -> list[dict[str, Any]]:
    """The ``deployctl status`` document; one connection per request (the server is threaded)."""
    registry = open_registry(settings)
    try:
        return [report.to_json() for report in source_reports(registry, owner)]
    finally:
        registry.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("source")
    parser.add_argument("--home", required=True)
    parser.add_argument("--ref")
    parser.add_argument("--path", default="")
    parser.add_argument("--owner")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--drift-interval", type=float, default=300.0)
    parser.add_argument("--drift", default="restore")
    parser.add_argument("--lease", type=float, default=15.0)
    parser.add_argument("--grace", type=float, default=30.0)
    return parser


if __name__ == "__main__":
    sys.exit(main())
