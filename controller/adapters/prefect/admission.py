"""What a Prefect server would refuse, found before a plan is shown: ``admit``.

A deployment that names no work pool is given the repository's default pool, or refused: left
to itself the server picks one (a pool that happens to have a queue of that name, or a
``default-agent-pool`` no worker serves). A pool missing on the server is refused at plan time,
unless the settings say to create it, and job variables the pool's template refuses are
refused at their line, so that ``plan`` exits 2 wherever ``sync`` would. Called
by ``PrefectRegistry.admit``; the Applier uses the same message if a pool goes missing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.job_variables import job_variable_problem
from controller.adapters.prefect.translate import job_variables
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.ports import Admission, Refusal

NO_POOL = (
    "names no work pool, and a Prefect server given none picks one by itself (often a "
    "default-agent-pool that no worker serves): name one here (work_pool_name, or work_pool.name in "
    "a prefect.yaml), or set 'prefect: {default_work_pool: NAME}' in .deployctl.yaml "
    "(or DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL)"
)


def missing_pool(name: str) -> str:
    return (
        f"no work pool '{name}' on the Prefect server: create it (prefect work-pool create {name} "
        "--type process), name an existing one, or set 'prefect: {create_work_pools: true}' in "
        ".deployctl.yaml (or DEPLOYCTL_CREATE_WORK_POOLS=1)"
    )


def admit(
    client: PrefectClient,
    specs: Mapping[DeploymentId, DeploymentSpec],
    default_pool: str | None,
    create_pools: bool,
) -> Admission:
    completed = {i: _with_pool(s, default_pool) for i, s in specs.items()}
    refusals: dict[DeploymentId, Refusal] = {
        identity: ("work_pool_name", NO_POOL, "work-pool-unnamed")
        for identity, spec in completed.items()
        if not spec.work_pool_name
    }
    named = {spec.work_pool_name for spec in completed.values() if spec.work_pool_name}
    pools = existing_pools(client, named) if named else {}
    for identity, spec in completed.items():
        name = spec.work_pool_name or ""
        pool = pools.get(name)
        if identity in refusals:
            continue
        if pool is None and not create_pools:
            refusals[identity] = ("work_pool_name", missing_pool(name), "work-pool-missing")
        elif pool is not None and (problem := job_variable_problem(job_variables(spec), pool)):
            refusals[identity] = (f"job_variables.{problem[0]}", problem[1], "job-variables-refused")
    return Admission(completed, refusals)


def _with_pool(spec: DeploymentSpec, default_pool: str | None) -> DeploymentSpec:
    return spec if spec.work_pool_name or not default_pool else replace(spec, work_pool_name=default_pool)


def existing_pools(client: PrefectClient, names: set[str]) -> dict[str, dict[str, Any]]:
    """Those of ``names`` the server has, by name, in one filtered read."""
    body: dict[str, Any] = {"work_pools": {"name": {"any_": sorted(names)}}}
    return {str(pool["name"]): pool for pool in client.paged("/work_pools/filter", body)}
