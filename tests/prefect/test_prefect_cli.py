"""The real `deployctl` command against a Prefect server, the way CI runs it: only HOME set,
relative paths, started from another directory, `--registry` after the subcommand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import SHARED_POOL, PrefectSync, shared_pool, unique

pytestmark = pytest.mark.prefect


def deployctl(cwd: Path, home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """As a CI job runs it; ``env`` is what the job sets beside HOME (its default work pool too)."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env={"HOME": str(home), "PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_sync_plan_and_status_through_the_cli(prefect_server: PrefectServer, tmp_path: Path) -> None:
    flow, folder = unique("cli"), unique("repo")
    repo = GitRepo(tmp_path / "checkout" / folder)
    repo.write(
        {
            "flows/a/deployment.yaml": f"name: a\nflow_name: {flow}\nentrypoint: flow.py:run\n",
            "flows/a/flow.py": "def run():\n    pass\n",
            ".deployctl.yaml": f"prefect:\n  default_work_pool: {shared_pool(prefect_server)}\n",
        }
    ).commit("a")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    home = tmp_path / "home"
    registry = f"prefect+{prefect_server.api_url}"

    synced = deployctl(elsewhere, home, "sync", f"../checkout/{folder}", "--registry", registry)
    assert synced.returncode == 0, synced.stderr
    assert f"+ {flow}/a" in synced.stdout and "HTTP Request" not in synced.stderr

    # A second CI job: another home, the server named by PREFECT_API_URL only.
    planned = deployctl(
        elsewhere,
        tmp_path / "home-2",
        "plan",
        f"../checkout/{folder}",
        "--registry",
        "prefect",
        PREFECT_API_URL=prefect_server.api_url,
    )
    commit = repo.git("rev-parse", "HEAD")[:12]
    assert planned.returncode == 0, planned.stderr
    assert f"up to date: {commit} is applied and nothing drifted" in planned.stdout

    listed = deployctl(elsewhere, home, "deployment", "ls", "--registry", registry)
    assert f"{flow}/a" in listed.stdout and commit in listed.stdout

    seen = PrefectSync(prefect_server, repo, home, "", {}).inspect(f"{flow}/a")
    assert seen["version"] == commit and seen["work_pool_name"] == SHARED_POOL
    clone = seen["pull_steps"][0]["prefect.deployments.steps.git_clone"]
    assert clone["repository"] == str(repo.root)  # a worker elsewhere cannot clone a relative path

    refused = deployctl(elsewhere, home, "runner", "--registry", registry)
    assert refused.returncode == 2 and "Prefect's scheduler and workers" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    unnamed = deployctl(elsewhere, home, "sync", f"../checkout/{folder}", "--registry", "prefect")
    assert unnamed.returncode == 2 and "set PREFECT_API_URL" in unnamed.stderr
    assert len(unnamed.stderr.strip().splitlines()) == 1
