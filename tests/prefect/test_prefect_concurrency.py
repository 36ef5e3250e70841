"""Two syncs of one owner at once (two quick pushes, two CI jobs) never mix their commits."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from controller.adapters.prefect.registry import PrefectRegistry
from controller.ports import RegistryState
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, sibling_branches, unique

pytestmark = pytest.mark.prefect


class PlansTogether:
    """A registry whose ``read_state`` returns only once both syncs have read: both plans are
    made against the same state before either applies."""

    def __init__(self, registry: PrefectRegistry, barrier: threading.Barrier) -> None:
        self._registry = registry
        self._barrier = barrier

    def read_state(self, owner: str) -> RegistryState:
        state = self._registry.read_state(owner)
        self._barrier.wait(timeout=60)
        return state

    def __getattr__(self, name: str) -> object:
        return getattr(self._registry, name)


def test_two_syncs_of_sibling_commits_apply_one_commit_whole(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow = unique("race")
    repo, _ = sibling_branches(tmp_path / "repo", flow)
    owner = unique("owner")
    barrier = threading.Barrier(2)
    jobs = [PrefectSync(prefect_server, repo, tmp_path / f"ci-{ref}", owner, {}) for ref in "ab"]

    def run(job: PrefectSync, ref: str) -> str | None:
        return job.sync(PlansTogether(job.registry(), barrier), ref=ref).error  # type: ignore[arg-type]

    with ThreadPoolExecutor(2) as pool:
        errors = list(pool.map(run, jobs, ["a", "b"]))

    assert sorted(e is None for e in errors) == [False, True], errors
    (refused,) = [e for e in errors if e]
    assert "changed since the plan was made" in refused and "nothing was applied" in refused
    names = {row.name for row in jobs[0].registry().list_deployments() if row.flow_name == flow}
    assert names in ({"base", "only-a"}, {"base", "only-b"})
