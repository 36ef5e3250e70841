"""An owner belongs to one repository, whatever the ref: another repository under it is refused.

Two teams copy ``owner: data-team`` into their ``.deployctl.yaml`` (as the sample repository
declares it). Their branches are called ``main`` and ``master``, or the second syncs a commit
by its hash: the second sync, and its ``plan``, exit 2 with one line naming both repositories
and ``--adopt-owner``, and write nothing; with ``--adopt-owner`` the owner moves. Run as
people run it: the installed ``deployctl`` command with only HOME set.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo, deployment_files

SETTINGS = {".deployctl.yaml": "owner: data-team\n"}


def team_repository(root: Path, branch: str, names: list[str]) -> GitRepo:
    repo = GitRepo(root, branch=branch)
    repo.write(SETTINGS)
    for name in names:
        repo.write(deployment_files(name, body=f"# {root}\n"))
    repo.commit("flows")
    return repo


def registry(home: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Every deployment (id, commit, repository) and every source row, as stored."""
    with sqlite3.connect(home / ".deployctl" / "registry.db") as db:
        deployments = db.execute("SELECT id, commit_sha, repo_url, updated_at FROM deployments ORDER BY id")
        sources = db.execute("SELECT * FROM sources ORDER BY owner")
        return deployments.fetchall(), sources.fetchall()


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and "Traceback" not in done.stderr + done.stdout, done.stderr
    return lines[0]


@pytest.fixture
def teams(tmp_path: Path) -> tuple[GitRepo, GitRepo]:
    first = team_repository(tmp_path / "one" / "flows", "main", ["a", "b", "c", "d"])
    second = team_repository(tmp_path / "two" / "flows", "master", ["a", "b"])
    return first, second


@pytest.mark.parametrize("by_commit", [False, True], ids=["master-after-main", "a-commit-sha"])
def test_a_second_repository_under_one_owner_is_refused_and_writes_nothing(
    tmp_path: Path, teams: tuple[GitRepo, GitRepo], by_commit: bool
) -> None:
    first, second = teams
    assert run_deployctl(tmp_path, "sync", "flows", cwd=first.root.parent).returncode == 0
    before = registry(tmp_path)
    assert len(before[0]) == 4
    ref = ["--ref", second.git("rev-parse", "HEAD")] if by_commit else []

    for command in ("sync", "plan"):
        line = one_line(run_deployctl(tmp_path, command, "flows", *ref, cwd=second.root.parent))
        assert line.startswith("error: owner data-team belongs to the repository"), line
        assert str(first.root.resolve()) in line and str(second.root.resolve()) in line, line
        assert "--adopt-owner" in line, line
        assert registry(tmp_path) == before, f"{command} wrote to the registry"


def test_adopt_owner_moves_the_owner_and_then_the_first_repository_is_refused(
    tmp_path: Path, teams: tuple[GitRepo, GitRepo]
) -> None:
    first, second = teams
    assert run_deployctl(tmp_path, "sync", "flows", cwd=first.root.parent).returncode == 0
    adopted = run_deployctl(tmp_path, "sync", "flows", "--adopt-owner", cwd=second.root.parent)
    assert adopted.returncode == 0, adopted.stderr
    deployments, (source,) = registry(tmp_path)
    assert [(d[0], d[1]) for d in deployments] == [
        ("etl/a", second.git("rev-parse", "HEAD")),
        ("etl/b", second.git("rev-parse", "HEAD")),
    ]
    assert str(second.root.resolve()) in source and "master" in source, source
    back = one_line(run_deployctl(tmp_path, "sync", "flows", cwd=first.root.parent))
    assert f"belongs to the repository {second.root.resolve()}" in back, back


def test_a_status_kept_by_an_older_deployctl_learns_its_repository_at_the_next_apply(
    tmp_path: Path, teams: tuple[GitRepo, GitRepo]
) -> None:
    first, second = teams
    assert run_deployctl(tmp_path, "sync", "flows", cwd=first.root.parent).returncode == 0
    with sqlite3.connect(tmp_path / ".deployctl" / "registry.db") as db:
        db.execute("UPDATE sources SET identity = NULL")  # as a deployctl before the column left it
    line = one_line(run_deployctl(tmp_path, "sync", "flows", cwd=second.root.parent))
    assert f"belongs to the repository {first.root.resolve()}" in line, line  # known by its URL
    first.write(deployment_files("e")).commit("one more")
    assert run_deployctl(tmp_path, "sync", "flows", cwd=first.root.parent).returncode == 0
    with sqlite3.connect(tmp_path / ".deployctl" / "registry.db") as db:
        assert db.execute("SELECT identity FROM sources").fetchall() == [(str(first.root.resolve()),)]
