"""The repository's own ``sample-repo/``, as the README's quick start uses it against Prefect 3.9.1:
``deployctl sync`` as a real process creates all seven deployments, and each runs to Completed on
``prefect worker start --type process``.

The sample's Prefect 2 deployments say ``work_pool_name: null``; the pool comes from
``DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL`` (``prefect: {default_work_pool: …}`` in ``.deployctl.yaml``),
and its ``prefect.yaml`` names the pool ``local``: the test creates that pool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import process_pool, server_request, unique, worker_pass

pytestmark = pytest.mark.prefect

SAMPLE = Path(__file__).parent.parent.parent / "sample-repo"
POOL = "local"
# Each deployment of the sample, and a line its run prints.
DEPLOYMENTS = {
    "my_flow/daily": "hello daily team",
    "my_flow/weekly": "hello weekly team",
    "my_flow/ad-hoc": "hello ad-hoc team",
    "my_flow/trigger-based": "hello trigger-based team",
    "sales-etl/hourly-emea": '"region": "emea"',
    "month-end-close/month-end": "closing ledger main",
    "board-pack/board-pack": "assembling the board pack for current",
}


def forget_earlier_runs(server: PrefectServer) -> None:
    """The sample's names are fixed: deployments an earlier run left on this server go first (each
    run is its own owner, so a later one never finds a repository it does not know)."""
    for identity in DEPLOYMENTS:
        found = server_request("GET", f"{server.api_url}/deployments/name/{identity}")
        if found.status_code == 200:
            server_request("DELETE", f"{server.api_url}/deployments/{found.json()['id']}")


def test_the_sample_repository_syncs_and_every_deployment_runs(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "sample-repo")
    shutil.copytree(SAMPLE, repo.root, dirs_exist_ok=True)
    repo.commit("the sample")
    forget_earlier_runs(prefect_server)
    process_pool(prefect_server, POOL, exist_ok=True)
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": os.environ.get("PATH", ""),
        "DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL": POOL,
    }
    synced = subprocess.run(
        [
            sys.executable,
            "-m",
            "controller",
            "sync",
            "sample-repo",
            "--registry",
            f"prefect+{prefect_server.api_url}",
            "--owner",
            unique("sample"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert synced.returncode == 0, synced.stdout + synced.stderr
    for identity in DEPLOYMENTS:
        found = server_request("GET", f"{prefect_server.api_url}/deployments/name/{identity}")
        assert found.status_code == 200, f"{identity} was not created: {synced.stdout}"
        assert found.json()["work_pool_name"] == POOL, identity

    runs = worker_pass(prefect_server, POOL, list(DEPLOYMENTS), tmp_path)
    for (identity, printed), run in zip(DEPLOYMENTS.items(), runs, strict=True):
        assert run.state_type == "COMPLETED", f"{identity}: {run.output[-3000:]}"
        assert printed in run.output, identity
