"""deployctl under the defaults a person uses: only HOME set, relative paths, any directory.

State lives in ``~/.deployctl`` whatever the directory a command starts from, nothing is
written into the synced repository, and listings say which registry they read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import invoke, run_deployctl
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
    assert invoke(tmp_path, "variable", "set", "region", "eu").exit_code == 0  # a registry, no deployments
    assert f"no deployments in the registry {registry}" in invoke(tmp_path, "deployment", "ls").stdout
    assert f"into the registry {registry} yet" in invoke(tmp_path, "status").stdout


READ_ONLY = [
    ("status",),
    ("status", "-o", "json"),
    ("deployment", "ls"),
    ("deployment", "inspect", "etl/a"),
    ("deployment", "schedule", "ls", "etl/a"),
    ("flow-run", "ls"),
    ("flow-run", "logs", "abc"),
    ("work-queue", "ls"),
    ("variable", "ls"),
]


def test_a_read_only_command_never_creates_a_registry_and_says_none_is_there(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    registry = home / ".deployctl" / "registry.db"
    for command in READ_ONLY:
        done = run_deployctl(home, *command, cwd=elsewhere)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        assert done.stdout == "" and done.stderr.count("\n") == 1, (command, done.stderr)
        assert done.stderr.startswith(f"error: no registry at {registry}: nothing has been synced there"), (
            command,
            done.stderr,
        )
        assert "deployctl sync SOURCE" in done.stderr
    assert list(home.iterdir()) == [] and list(elsewhere.iterdir()) == [], "a read-only command wrote"
    named = run_deployctl(home, "--registry", "sqlite:///state/ci.db", "deployment", "ls", cwd=elsewhere)
    assert f"no registry at {elsewhere / 'state' / 'ci.db'}" in named.stderr and named.returncode == 2
    assert not (elsewhere / "state").exists()
    repository(tmp_path / "repo", ["a"])
    assert run_deployctl(home, "sync", "../repo", cwd=elsewhere).returncode == 0
    assert "Ready=true" in run_deployctl(home, "status", cwd=elsewhere).stdout


def test_the_uncommitted_changes_warning_also_when_the_commit_is_already_applied(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    repo = repository(tmp_path / "repo", ["a"])
    assert run_deployctl(home, "sync", "repo", cwd=tmp_path).returncode == 0
    (repo.root / "flows" / "a" / "deployment.yaml").write_text("name: a\nflow_name: etl\nentrypoint: x\n")
    warning = "warning: 1 uncommitted change under the repository ignored: deployctl applies commits only"
    for verb in ("sync", "plan"):
        done = run_deployctl(home, verb, "repo", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert warning in done.stdout and "up to date" in done.stdout, done.stdout
    as_json = run_deployctl(home, "sync", "../repo", "-o", "json", cwd=home)
    assert json.loads(as_json.stdout)["warnings"] == [warning.removeprefix("warning: ")]


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
