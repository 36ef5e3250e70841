"""Ad-hoc runs: create one for a deployment now or later, and wait for it to finish.

Parameters are the deployment's overlaid by the caller's, and are checked against the
deployment's schema when it is enforced, so a bad run is refused before it is created.
Used by ``deployctl deployment run`` and ``controller.run_deployment``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.core.environment import variable_problem
from controller.core.runs import FlowRun, iso, layered_parameters
from controller.errors import UsageError
from controller.ports import NewRun, RunBook
from controller.runtime.flow_environment import parameter_problem


class RunRefused(UsageError):
    """The run cannot be created as asked (unknown deployment, parameters against the schema)."""


def create_run(
    store: RunBook,
    deployment_id: str,
    parameters: Mapping[str, Any] | None = None,
    start_at: datetime | None = None,
    idempotency_key: str | None = None,
    work_queue_name: str | None = None,
    now: datetime | None = None,
    options: RunOptions | None = None,
) -> FlowRun:
    now = now or datetime.now(UTC)
    options = options or RunOptions()
    found = store.deployment_snapshot(deployment_id)
    if found is None:
        raise RunRefused(f"no deployment {deployment_id!r} in the registry ('deployctl deployment ls')")
    digest, flow_name, queue, record = found
    merged = layered_parameters(record["parameters"], parameters)
    problem = parameter_problem(record, merged)
    if problem:
        raise RunRefused(problem)
    if options.job_variables:
        digest = store.derive_snapshot(digest, _with_job_variables(record, options.job_variables), iso(now))
    new = NewRun(
        deployment_id,
        flow_name,
        digest,
        merged,
        work_queue_name or queue,
        iso(start_at or now),
        idempotency_key=idempotency_key,
        name=options.name,
        tags=options.tags,
    )
    return store.create_run(new, iso(now))


@dataclass(frozen=True)
class RunOptions:
    """What Prefect's ``run_deployment`` lets a caller set per run besides its parameters."""

    name: str | None = None
    tags: tuple[str, ...] = ()
    job_variables: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, name: object, tags: object, job_variables: object) -> RunOptions:
        """From ``run_deployment``'s arguments as a caller passes them: a string is one tag
        (Prefect would split it into letters); anything else that is not a list of strings is
        refused with a ``RunRefused``."""
        if tags is None or isinstance(tags, str):
            listed: tuple[Any, ...] = () if tags is None else (tags,)
        elif isinstance(tags, Iterable):
            listed = tuple(tags)
        else:
            raise RunRefused(f"tags: give a list of strings, got {tags!r}")
        return cls(name, listed, job_variables or {})  # type: ignore[arg-type]  # checked below

    def __post_init__(self) -> None:
        if self.name is not None and (not isinstance(self.name, str) or not self.name.strip()):
            raise RunRefused("flow_run_name: give a non-empty name, or none for the default")
        if any(not isinstance(tag, str) or not tag for tag in self.tags):
            raise RunRefused(f"tags: every tag must be a non-empty string, got {list(self.tags)!r}")
        if not isinstance(self.job_variables, Mapping):
            raise RunRefused("job_variables: give a mapping, such as {'env': {'LEVEL': 'debug'}}")
        env = self.job_variables.get("env", {})
        if not isinstance(env, Mapping):
            raise RunRefused("job_variables.env: give a mapping of variable names to values")
        for key, value in env.items():
            problem = variable_problem(str(key), value)
            if problem:
                raise RunRefused(f"job_variables.env.{key}: {problem}")


def _with_job_variables(record: Mapping[str, Any], job_variables: Mapping[str, Any]) -> dict[str, Any]:
    """The deployment's record with the run's job variables over its own, key by key, as a
    Prefect worker merges a flow run's job variables over its deployment's."""
    own = dict(record.get("job_variables") or {})
    merged = {**own, **job_variables}
    if isinstance(own.get("env"), Mapping) and isinstance(job_variables.get("env"), Mapping):
        merged["env"] = {**own["env"], **job_variables["env"]}  # env merges name by name
    return {**record, "job_variables": merged}


def wait_for(store: RunBook, run_id: str, timeout: float | None, poll: float = 0.2) -> FlowRun:
    """The run once it is finished, or as it is when ``timeout`` seconds have passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        run = store.get(run_id)
        assert run is not None
        if run.state_type.terminal or (deadline is not None and time.monotonic() >= deadline):
            return run
        time.sleep(poll)
