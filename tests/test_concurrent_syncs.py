"""Two syncs at once never mix their commits: a plan is applied only to the state it was made from.

Twenty pairs of real ``deployctl sync`` processes race on sibling commits. Each final registry
holds exactly one commit's deployments, the loser either applied after the winner (its plan was
made from the winner's state) or refused in one line, and ``plan`` of the other commit shows the
difference.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo, deployment_files

pytestmark = pytest.mark.stress

PAIRS = 20


def _siblings(root: Path) -> GitRepo:
    repo = GitRepo(root)
    for i in range(30):
        repo.write(deployment_files(f"base{i}"))
    repo.commit("base")
    repo.git("branch", "a")
    repo.git("branch", "b")
    for branch in ("a", "b"):
        repo.git("checkout", "-q", branch)
        repo.write(deployment_files(f"only-{branch}")).commit(f"add only-{branch}")
    return repo


def test_twenty_racing_pairs_each_end_as_exactly_one_commit(tmp_path: Path) -> None:
    repo = _siblings(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(tmp_path)}
    base = {f"etl/base{i}" for i in range(30)}
    winners = set()
    for pair in range(PAIRS):
        home = tmp_path / f"home-{pair}"
        command = [sys.executable, "-m", "controller", "--home", str(home), "--owner", "team"]
        racing = [
            subprocess.Popen(
                [*command[:-2], "sync", str(repo.root), "--ref", ref, "--owner", "team", "--force-prune"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for ref in ("a", "b")
        ]
        outcomes = [(p.wait(timeout=120), p.stdout.read() + p.stderr.read()) for p in racing]  # type: ignore[union-attr]
        for code, output in outcomes:
            assert code == 0 or "changed while this plan was made" in output, output
            assert "Traceback" not in output
        listed = subprocess.run(
            [*command[:-2], "deployment", "ls", "-o", "json"], env=env, capture_output=True, text=True
        )
        names = {row["id"] for row in json.loads(listed.stdout)}
        assert names in (base | {"etl/only-a"}, base | {"etl/only-b"}), sorted(names - base)
        winner = "a" if "etl/only-a" in names else "b"
        winners.add(winner)
        other = "b" if winner == "a" else "a"
        planned = subprocess.run(
            [*command[:-2], "plan", str(repo.root), "--ref", other, "--owner", "team", "--force-prune"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert planned.returncode == 1, planned.stdout + planned.stderr
        assert f"+ etl/only-{other}" in planned.stdout and f"- etl/only-{winner}" in planned.stdout
