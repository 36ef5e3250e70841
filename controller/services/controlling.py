"""Starting the continuous controller: its settings from the command's flags and the
environment's secrets, its logging, then ``runtime.controlling.service.run_controller`` until
SIGTERM. ``parts`` is ``app.App.controller_parts``: the backend's pieces, wired there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from controller.core.redaction import SECRET_VALUES, short_secret
from controller.engine.reconciler import SyncOptions
from controller.errors import ConfigError
from controller.ports import SourceSpec
from controller.runtime.controlling.logs import configure_logging
from controller.runtime.controlling.policy import Timing
from controller.runtime.controlling.service import ControllerParts, ControllerSettings, run_controller
from controller.runtime.controlling.webhooks import load_secret

PartsFactory = Callable[[SourceSpec, float, bool, float], ControllerParts]
"""(source, lease seconds, whether to run the engine, git timeout) -> the controller's parts."""


def start_controller(
    parts: PartsFactory,
    source: SourceSpec,
    env: Mapping[str, str],
    *,
    interval: float,
    drift_interval: float,
    drift: str,
    listen: str,
    lease_seconds: float,
    shutdown_grace: float,
    engine: bool,
    log_format: str,
    on_listening: Callable[[str], None],
    **flags: Any,
) -> int:
    """Run the controller of ``source`` until it is stopped; its exit code. ``flags``: the
    sync options (``SyncOptions``) every pass uses."""
    host, _, port = listen.rpartition(":")  # checked by the command: HOST:PORT
    webhook_secret = load_secret(env)
    if problem := short_secret("the secret in DEPLOYCTL_WEBHOOK_SECRET_FILE", webhook_secret):
        raise ConfigError(problem)
    configure_logging(log_format, [webhook_secret, *(env.get(name) for name in SECRET_VALUES)])
    settings = ControllerSettings(
        options=SyncOptions(**flags),
        timing=Timing(interval=interval, drift_interval=drift_interval),
        drift=drift,
        listen=(host or "127.0.0.1", int(port)),
        lease_seconds=lease_seconds,
        grace=shutdown_grace,
        webhook_secret=webhook_secret,
        ref=source.ref,
    )
    built = parts(source, lease_seconds, engine, settings.git_timeout())
    return run_controller(built, settings, on_listening=on_listening)
