"""deployctl: a GitOps controller for flow deployments.

The package is layered: ``core`` (pure data and rules), ``loading`` (manifests in, desired
state out), ``adapters`` (all I/O), ``engine`` (the reconcile pass), ``runtime`` (scheduler,
runner and their loops), ``services`` (the use cases), ``cli`` (the edge); ``ports`` holds the
interfaces between them and ``app`` the wiring. ``run_deployment`` is the Python API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.core.runs import FlowRun

__version__ = "0.1.0"


def run_deployment(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    *,
    registry: str | None = None,
    home: str | None = None,
) -> FlowRun:
    """Create a run of deployment ``name`` (``flow/deployment``) and wait for it, like Prefect's.

    Returns the finished run, or the run as it is after ``timeout`` seconds (``timeout=0``:
    the scheduled run, at once). A runner (``deployctl up`` or ``deployctl runner``) executes
    it. Raises ``controller.errors.UsageError`` for an unknown deployment or parameters its
    schema rejects. ``registry`` and ``home`` default as for the command line.
    """
    from controller.app import App
    from controller.settings import Settings

    app = App(Settings.resolve(registry=registry, home=home))
    runs = app.runs("run_deployment")
    try:
        run = runs.create(name, parameters)
        return run if timeout == 0 else runs.wait(run.id, timeout)
    finally:
        runs.store.close()
        app.close()
