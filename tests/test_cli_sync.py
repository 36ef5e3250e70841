"""The plan, sync, status and deployment commands as whole processes, as CI and people use them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.gitrepo import deployment_files, repository

ROOT = Path(__file__).resolve().parent.parent


def deployctl(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}
    return subprocess.run(
        [sys.executable, "-m", "controller", "--home", str(state), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def test_plan_exit_codes_and_formats(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    state = tmp_path / "state"
    planned = deployctl(state, "plan", str(repo.root))
    assert planned.returncode == 1, planned.stderr
    assert "+ etl/a  (version" in planned.stdout
    assert planned.stdout.strip().endswith("Plan: 2 to create, 0 to update, 0 to delete, 0 unchanged")
    assert (
        not (state / "registry.db").exists()
        or deployctl(state, "deployment", "ls", "-o", "json").stdout.strip() == "[]"
    )
    assert deployctl(state, "sync", str(repo.root)).returncode == 0
    assert deployctl(state, "plan", str(repo.root)).returncode == 0
    repo.write(deployment_files("a", cron="15 * * * *")).commit("a at quarter past")
    as_json = deployctl(state, "plan", str(repo.root), "-o", "json")
    assert as_json.returncode == 1
    (change,) = json.loads(as_json.stdout)["changes"]
    assert change["action"] == "update" and change["cause"] == "changed in git"
    paths = {d["path"] for d in change["diff"]}
    assert {"schedules[0].cron", "version"} <= paths
    markdown = deployctl(state, "plan", str(repo.root), "-o", "markdown").stdout
    assert "| update | `etl/a` |" in markdown and "`schedules[0].cron: 0 * * * * -> 15 * * * *`" in markdown


def test_sync_of_invalid_commit_exits_2_and_lists_every_problem(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write(
        {
            "flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: missing.py:run\n",
            "flows/c/deployment.yaml": "name: c\nflow_name: etl\nentrypoint: x.py:run\ntags: 3\n",
        }
    ).commit()
    state = tmp_path / "state"
    done = deployctl(state, "sync", str(repo.root))
    assert done.returncode == 2
    assert (
        "flows/b/deployment.yaml:3:1: entrypoint: entrypoint file 'missing.py' does not exist" in done.stdout
    )
    assert "flows/c/deployment.yaml:4:1: tags: expected a list, got int 3" in done.stdout
    assert done.stderr.startswith("error: 2 problem(s) in the manifests; nothing was applied: flows/b/")
    assert json.loads(deployctl(state, "deployment", "ls", "-o", "json").stdout) == []


def test_a_refusal_counts_the_errors_not_the_warnings(tmp_path: Path) -> None:
    """A prefect.yaml's unused flow_name warns; beside one broken file the refusal counts 1."""
    repo = repository(tmp_path / "repo", ["a"])
    project = "deployments:\n- name: c\n  flow_name: etl\n  entrypoint: flow.py:run\n"
    repo.write(
        {
            "flows/c/prefect.yaml": project,
            "flows/c/flow.py": "def run():\n    pass\n",
            "flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: missing.py:run\n",
        }
    ).commit("a warning and a broken file")
    for command in ("plan", "sync"):
        done = deployctl(tmp_path / "state", command, str(repo.root))
        assert done.returncode == 2, done.stdout + done.stderr
        assert "warning: deployments[0].flow_name: flow_name 'etl' is not used" in done.stdout
        assert done.stderr.startswith("error: 1 problem(s) in the manifests; nothing was applied: flows/b/")


def test_status_and_deployment_commands(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    head = repo.git("rev-parse", "HEAD")
    state = tmp_path / "state"
    deployctl(state, "sync", str(repo.root))
    status = json.loads(deployctl(state, "status", "-o", "json").stdout)
    assert [(s["last_attempted_revision"], s["last_applied_revision"]) for s in status] == [(head, head)]
    assert status[0]["conditions"][0]["type"] == "Ready" and status[0]["conditions"][0]["status"] is True
    assert {o["deployment_id"]: o["outcome"] for o in status[0]["last_outcomes"]} == {
        "etl/a": "applied",
        "etl/b": "applied",
    }
    listing = deployctl(state, "deployment", "ls").stdout.splitlines()
    assert listing[0].split()[:3] == ["ID", "VERSION", "SCHEDULES"]
    assert listing[1].split()[:2] == ["etl/a", head[:12]]
    inspected = json.loads(deployctl(state, "deployment", "inspect", "etl/b", "-o", "json").stdout)
    as_text = deployctl(state, "deployment", "inspect", "etl/b").stdout
    assert f"commit_sha:     {head}" in as_text and '"entrypoint": "flow.py:run"' in as_text
    assert inspected["record"]["entrypoint"] == "flow.py:run" and inspected["commit_sha"] == head
    missing = deployctl(state, "deployment", "inspect", "etl/zzz")
    assert missing.returncode == 2 and "no deployment 'etl/zzz'" in missing.stderr
    deleted = deployctl(state, "deployment", "delete", "etl/b")
    assert deleted.returncode == 0 and "next sync recreates it" in deleted.stdout
    assert [d["id"] for d in json.loads(deployctl(state, "deployment", "ls", "-o", "json").stdout)] == [
        "etl/a"
    ]
    again = deployctl(state, "sync", str(repo.root))
    assert again.returncode == 0 and "+ etl/b" in again.stdout


def test_sample_repository_syncs_with_commit_versions(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = deployctl(state, "sync", "sample-repo")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(deployctl(state, "deployment", "ls", "-o", "json").stdout)
    assert len(rows) == 7
    assert all(len(r["version"]) == 12 and r["commit"].startswith(r["version"]) for r in rows)
    assert {r["id"] for r in rows if r["paused"]} == {"board-pack/board-pack"}


BROKEN = {
    "flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\nshedule: {}\n",
    "flows/b/flow.py": "def run():\n    pass\n",
    "flows/c/deployment.yaml": "name: c\nflow_name: etl\nentrypoint: x.py:run\ntags: 3\n",
}
FIRST = "flows/b/deployment.yaml:4:1: shedule: unknown key 'shedule' (did you mean 'schedule'?) (and 1 more)"


def test_every_format_of_plan_sync_and_validate_carries_the_problems_and_one_error_line(
    tmp_path: Path,
) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write(BROKEN).commit("break b and c")
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (("plan", "../repo"), ("sync", "../repo"), ("validate", "../repo")):
        for output in ("text", "json", "markdown"):
            done = run_deployctl(home, *command, "-o", output, cwd=elsewhere)
            assert done.returncode == 2, (command, output, done.stderr)
            errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
            if command[0] == "validate" and output == "text":  # each problem on stderr, as the README shows
                assert done.stderr.startswith(FIRST.removesuffix(" (and 1 more)")), done.stderr
                assert "flows/c/deployment.yaml:4:1: tags" in done.stderr and not errors
            else:
                assert len(errors) == 1 and errors[0].endswith(FIRST), (command, output, done.stderr)
            assert "Traceback" not in done.stderr
            if output == "json":
                problems = {
                    (d["file"], d["line"], d["field"]) for d in json.loads(done.stdout)["diagnostics"]
                }
                assert problems == {
                    ("flows/b/deployment.yaml", 4, "shedule"),
                    ("flows/c/deployment.yaml", 4, "tags"),
                }
            elif output == "markdown":
                assert f"### deployctl {command[0]} " in done.stdout
                assert (
                    "| error | `flows/b/deployment.yaml:4` | `shedule` | unknown key 'shedule'" in done.stdout
                )
                assert (
                    "| error | `flows/c/deployment.yaml:4` | `tags` | expected a list, got int 3 |"
                    in done.stdout
                )
    for output in ("text", "json", "markdown"):  # a refusal without a diagnostic: one line too
        done = run_deployctl(home, "sync", "no-such-folder", "-o", output, cwd=elsewhere)
        assert done.returncode == 2 and done.stderr.count("error: ") == 1, done.stderr
        assert "no-such-folder" in done.stderr


def test_partial_refuses_an_invalid_settings_file_and_writes_nothing(tmp_path: Path) -> None:
    """--partial freezes broken manifests, never .deployctl.yaml: its owner and defaults reach
    every deployment, and an unreadable one must not make a derived owner apply the rest."""
    repo = repository(tmp_path / "repo", ["a", "b"])
    repo.write({".deployctl.yaml": "owner: data-team\n"}).commit("owner")
    home = tmp_path / "home"
    assert run_deployctl(home, "sync", "repo", cwd=tmp_path).returncode == 0

    def registry() -> tuple[str, str]:
        listed = run_deployctl(home, "deployment", "ls", "-o", "json", cwd=tmp_path).stdout
        return listed, run_deployctl(home, "status", "-o", "json", cwd=tmp_path).stdout

    before = registry()
    assert [d["owner"] for d in json.loads(before[0])] == ["data-team", "data-team"]
    repo.write(
        {".deployctl.yaml": "owner: data-team\nprune:\n  max_fraction: lots\n", **deployment_files("c")}
    )
    repo.remove("flows/b").commit("a typo in the settings, b removed, c added")
    for command in ("sync", "plan"):
        done = run_deployctl(home, command, "repo", "--partial", cwd=tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert registry() == before, f"{command} --partial wrote: {done.stdout}"
        output = done.stdout + done.stderr
        assert ".deployctl.yaml:3:3: prune.max_fraction: expected a number, got str 'lots'" in output
        errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and "--partial cannot freeze it" in errors[0], done.stderr
        assert "Traceback" not in output and "Applied" not in output
