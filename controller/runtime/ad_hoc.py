"""Ad-hoc runs: create one for a deployment now or later, and wait for it to finish.

Parameters are the deployment's overlaid by the caller's, and are checked against the
deployment's schema when it is enforced, so a bad run is refused before it is created.
Used by ``deployctl deployment run`` and ``controller.run_deployment``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from controller.core.runs import FlowRun, iso, layered_parameters
from controller.errors import UsageError
from controller.ports import NewRun, RunStore
from controller.runtime.flow_environment import parameter_problem


class RunRefused(UsageError):
    """The run cannot be created as asked (unknown deployment, parameters against the schema)."""


def create_run(
    store: RunStore,
    deployment_id: str,
    parameters: Mapping[str, Any] | None = None,
    start_at: datetime | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    now: datetime | None = None,
) -> FlowRun:
    now = now or datetime.now(UTC)
    found = store.deployment_snapshot(deployment_id)
    if found is None:
        raise RunRefused(f"no deployment {deployment_id!r} in the registry ('deployctl deployment ls')")
    digest, flow_name, queue, record = found
    merged = layered_parameters(record["parameters"], parameters)
    problem = parameter_problem(record, merged)
    if problem:
        raise RunRefused(problem)
    new = NewRun(
        deployment_id,
        flow_name,
        digest,
        merged,
        work_queue_name or queue,
        iso(start_at or now),
        idempotency_key=idempotency_key,
    )
    return store.create_run(new, iso(now))


def wait_for(store: RunStore, run_id: str, timeout: float | None, poll: float = 0.2) -> FlowRun:
    """The run once it is finished, or as it is when ``timeout`` seconds have passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get(run_id)
        assert run is not None
        if run.state_type.terminal or (deadline is not None and time.monotonic() >= deadline):
            return run
        time.sleep(poll)
