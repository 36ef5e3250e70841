"""What a Prefect server would refuse, found before a plan is shown: ``admit``.

A deployment that names no work pool is given the repository's default pool, or refused: left
to itself the server picks one (a pool that happens to have a queue of that name, or a
``default-agent-pool`` no worker serves). A pool missing on the server is refused at plan time,
unless the settings say to create it, so that ``plan`` exits 2 wherever ``sync`` would. Called
by ``PrefectRegistry.admit``; the Applier uses the same message if a pool goes missing later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from controller.adapters.registry.prefect_client import PrefectClient
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
    absent = set() if create_pools or not named else named - existing_pools(client, named)
    refusals |= {
        identity: ("work_pool_name", missing_pool(spec.work_pool_name), "work-pool-missing")
        for identity, spec in completed.items()
        if spec.work_pool_name in absent
    }
    return Admission(completed, refusals)


def _with_pool(spec: DeploymentSpec, default_pool: str | None) -> DeploymentSpec:
    return spec if spec.work_pool_name or not default_pool else replace(spec, work_pool_name=default_pool)


def existing_pools(client: PrefectClient, names: set[str]) -> set[str]:
    """Which of ``names`` the server has, in one filtered read."""
    body: dict[str, Any] = {"work_pools": {"name": {"any_": sorted(names)}}}
    return {str(pool["name"]) for pool in client.paged("/work_pools/filter", body)}
