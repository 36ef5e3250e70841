"""deployctl: a GitOps controller for flow deployments.

The package is layered: ``core`` (pure data and rules), ``loading`` (manifests in, desired
state out), ``adapters`` (all I/O), ``engine`` (the reconcile pass), ``runtime`` (scheduler,
runner and their loops), ``services`` (the use cases), ``cli`` (the edge); ``ports`` holds the
interfaces between them and ``app`` the wiring. ``run_deployment`` and ``Deployment`` are the
Python API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.core.runs import FlowRun
    from controller.deployment import Deployment as Deployment


def __getattr__(name: str) -> Any:
    """``controller.Deployment``, imported on first use (the CLI never pays for it)."""
    if name == "Deployment":
        from controller.deployment import Deployment

        return Deployment
    raise AttributeError(f"module 'controller' has no attribute {name!r}")

__version__ = "0.1.0"


def run_deployment(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    scheduled_time: datetime | None = None,
    flow_run_name: str | None = None,
    timeout: float | None = None,
    poll_interval: float = 1.0,
    tags: Iterable[str] | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
    *,
    registry: str | None = None,
    home: str | None = None,
) -> FlowRun:
    """Create a run of deployment ``name`` (``flow/deployment``) and wait for it, as Prefect's does.

    Returns the run once finished, or as it is after ``timeout`` seconds (``timeout=0``: at
    once); ``run.state`` has ``name``, ``type``, ``is_completed()`` and ``is_failed()``. A
    runner (``deployctl up`` or ``deployctl runner``) executes it. The same ``idempotency_key``
    returns the run it created first. ``flow_run_name`` names the run, ``tags`` are the run's
    (``run.tags``), and ``job_variables`` go over the deployment's key by key for this run only
    (``{"env": {...}}`` sets its environment), as a Prefect worker merges them. Raises
    ``controller.errors.UsageError`` for an unknown deployment, parameters its schema rejects,
    or an environment no process can be given. ``registry`` and ``home`` default as on the
    command line.
    """
    from controller.app import App
    from controller.runtime.ad_hoc import RunOptions
    from controller.settings import Settings

    options = RunOptions.of(flow_run_name, tags, job_variables)
    app = App(Settings.resolve(registry=registry, home=home))
    runs = app.runs("run_deployment")
    try:
        run = runs.create(name, parameters, scheduled_time, idempotency_key, work_queue_name, options)
        return run if timeout == 0 else runs.wait(run.id, timeout, poll_interval)
    finally:
        runs.store.close()
        app.close()
