"""deployctl: a GitOps controller for flow deployments.

The package is layered: ``core`` (pure data and rules), ``loading`` (manifests in, desired
state out), ``adapters`` (all I/O), ``engine`` (the reconcile pass), ``runtime`` (scheduler,
runner and their loops), ``cli`` (the edge). ``run_deployment`` is the Python API.
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
    state_dir: str | None = None,
) -> FlowRun:
    """Create a run of deployment ``name`` (``flow/deployment``) and wait for it, like Prefect's.

    Returns the finished run, or the run as it is after ``timeout`` seconds (``timeout=0``:
    the scheduled run, at once). A runner (``deployctl up`` or ``deployctl runner``) executes
    it. Raises ``controller.runtime.ad_hoc.RunRefused`` for an unknown deployment or
    parameters its schema rejects.
    """
    from controller.cli_common import open_runs
    from controller.runtime.ad_hoc import create_run, wait_for
    from controller.settings import Settings

    store = open_runs(Settings.resolve(registry=registry, state_dir=state_dir))
    try:
        run = create_run(store, name, parameters)
        return run if timeout == 0 else wait_for(store, run.id, timeout)
    finally:
        store.close()
