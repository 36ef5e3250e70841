"""deployctl under the defaults a person uses: only HOME set, relative paths, any directory.

State lives in ``~/.deployctl`` whatever the directory a command starts from, nothing is
written into the synced repository, and listings say which registry they read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import invoke
from tests.gitrepo import repository


def test_one_home_seen_from_every_directory_and_nothing_written_into_the_repo(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    repo = repository(tmp_path / "repo", ["a", "b"])
    synced = invoke(home, "sync", ".", cwd=repo.root)
    assert synced.exit_code == 0, synced.output
    assert repo.git("status", "--porcelain", "--ignored") == "", "sync wrote into the repository"
    assert (home / ".deployctl" / "registry.db").is_file()
    listed = invoke(home, "deployment", "ls", cwd=elsewhere)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["etl/a", "etl/b"]


def test_a_repository_typed_another_way_is_the_same_source(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    (tmp_path / "elsewhere").mkdir()
    assert invoke(tmp_path, "sync", ".", cwd=repo.root).exit_code == 0
    again = invoke(tmp_path, "sync", "../repo/", cwd=tmp_path / "elsewhere")
    assert "up to date" in again.stdout, again.stdout


def test_a_relative_home_is_resolved_once_against_the_starting_directory(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    result = invoke(tmp_path, "--home", "state", "sync", "repo", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "registry.db").is_file()
    shown = invoke(
        tmp_path, "deployment", "ls", cwd=repo.root, env={"DEPLOYCTL_HOME": str(tmp_path / "state")}
    )
    assert "etl/a" in shown.stdout


def test_empty_listings_and_status_name_the_registry_they_read(tmp_path: Path) -> None:
    registry = tmp_path / ".deployctl" / "registry.db"
    assert f"no deployments in the registry {registry}" in invoke(tmp_path, "deployment", "ls").stdout
    assert f"into the registry {registry} yet" in invoke(tmp_path, "status").stdout


def test_global_options_work_after_the_subcommand(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    other = tmp_path / "other.db"
    assert invoke(tmp_path, "sync", str(repo.root), "--registry", f"sqlite:///{other}").exit_code == 0
    assert "etl/a" in invoke(tmp_path, "deployment", "ls", f"--registry=sqlite:///{other}").stdout
    assert "etl/a" not in invoke(tmp_path, "deployment", "ls").stdout


def test_the_installed_command_runs_from_another_directory_with_only_home(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(tmp_path)}
    command = [sys.executable, "-m", "controller"]
    done = subprocess.run([*command, "sync", "repo"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    shown = subprocess.run([*command, "status"], cwd="/", env=env, capture_output=True, text=True)
    assert "last applied:   " + repo.git("rev-parse", "HEAD") in shown.stdout
