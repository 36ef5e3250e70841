"""History and rollback against a real Prefect server, through the `deployctl` command as CI
jobs run it: each job with a HOME of its own, so what one job recorded, another reads (the
history and the hold live on the server, beside the owner's state)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, server_request, shared_pool, unique

pytestmark = pytest.mark.prefect


class Jobs:
    """CI jobs against one server, each started in ``cwd`` with a fresh HOME."""

    def __init__(self, server: PrefectServer, tmp_path: Path) -> None:
        self.server, self.tmp_path, self.count = server, tmp_path, 0
        self.cwd = tmp_path / "elsewhere"
        self.cwd.mkdir()

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        self.count += 1
        return subprocess.run(
            [sys.executable, "-m", "controller", *args, "--registry", f"prefect+{self.server.api_url}"],
            cwd=self.cwd,
            env={
                "HOME": str(self.tmp_path / f"home-{self.count}"),
                "PATH": os.environ.get("PATH", ""),
                **env,
            },
            capture_output=True,
            text=True,
            timeout=300,
        )

    def json(self, *args: str) -> Any:
        done = self.run(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def test_two_jobs_share_one_history_and_a_rollback_holds_until_release(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow, folder, owner = unique("hist"), unique("repo"), unique("owner")
    repo = GitRepo(tmp_path / "checkout" / folder)
    settings = f"prefect:\n  default_work_pool: {shared_pool(prefect_server)}\n"

    def manifest(name: str, cron: str) -> dict[str, str]:
        return {
            f"{name}/deployment.yaml": f"name: {name}\nflow_name: {flow}\nentrypoint: flow.py:run\n"
            f"schedule:\n  cron: '{cron}'\n",
            f"{name}/flow.py": "def run():\n    pass\n",
        }

    first = repo.write({".deployctl.yaml": settings, **manifest("a", "0 * * * *")}).commit("a")
    second = repo.write({**manifest("a", "5 * * * *"), **manifest("b", "0 1 * * *")}).commit("a changed, b")
    jobs, source = Jobs(prefect_server, tmp_path), f"../checkout/{folder}"
    assert jobs.run("sync", source, "--owner", owner, "--ref", first).returncode == 0
    assert jobs.run("sync", source, "--owner", owner).returncode == 0  # another job, another HOME

    passes = jobs.json("history", owner)  # a third job reads what both wrote
    assert [(p["revision"], p["trigger"], p["outcome"]) for p in passes] == [
        (second, "cli", "applied"),
        (first, "cli", "applied"),
    ]
    assert sorted((c["deployment"], c["action"]) for c in passes[0]["changes"]) == [
        (f"{flow}/a", "update"),
        (f"{flow}/b", "create"),
    ]
    versions = jobs.json("deployment", "history", f"{flow}/a")
    assert [(r["action"], r["version"]) for r in versions] == [
        ("update", second[:12]),
        ("create", first[:12]),
    ]

    rolled = jobs.run("rollback", owner, "--to", first[:9])
    assert rolled.returncode == 0, rolled.stderr
    assert f"{owner}: held at {first[:12]}; HEAD is {second[:12]}" in rolled.stdout
    seen = PrefectSync(prefect_server, repo, tmp_path, owner, {}).inspect(f"{flow}/a")
    assert seen["version"] == first[:12]
    gone = server_request("GET", f"{prefect_server.api_url}/deployments/name/{flow}/b")
    assert gone.status_code == 404

    refused = jobs.run("sync", source, "--owner", owner)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert lines[0].startswith(f"error: {owner} is held at {first[:12]}; HEAD is {second[:12]}")
    (status,) = jobs.json("status", "--owner", owner)
    assert status["held"]["revision"] == first and status["last_applied_revision"] == first

    assert "released" in jobs.run("release", owner).stdout
    synced = jobs.run("sync", source, "--owner", owner, DEPLOYCTL_HISTORY_LIMIT="3")
    assert synced.returncode == 0, synced.stderr
    (status,) = jobs.json("status", "--owner", owner)
    assert status["held"] is None and status["last_applied_revision"] == second
    kept = jobs.json("history", owner)  # the newest three of four (the held refusal among them)
    assert [(p["trigger"], p["outcome"], p["revision"]) for p in kept] == [
        ("cli", "applied", second),
        ("cli", "refused", second),
        ("rollback", "applied", first),
    ]


def test_rollback_to_a_revision_the_owner_never_applied_is_refused(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow, folder, owner = unique("hist"), unique("repo"), unique("owner")
    repo = GitRepo(tmp_path / "checkout" / folder)
    settings = f"prefect:\n  default_work_pool: {shared_pool(prefect_server)}\n"
    never = repo.write({".deployctl.yaml": settings, "a/flow.py": "def run():\n    pass\n"}).commit(
        "no deployment"
    )
    repo.write({"a/deployment.yaml": f"name: a\nflow_name: {flow}\nentrypoint: flow.py:run\n"}).commit("a")
    jobs = Jobs(prefect_server, tmp_path)
    assert jobs.run("sync", f"../checkout/{folder}", "--owner", owner).returncode == 0
    refused = jobs.run("rollback", owner, "--to", never)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines() == [
        f"error: {never} is not a revision {owner} applied (an unknown commit, or one never synced to it): "
        f"give a commit id, or its first 4 or more digits, that 'deployctl history {owner}' lists (names "
        "such as HEAD~1 or main are not taken: they move)"
    ]
