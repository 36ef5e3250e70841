"""History and rollback on the embedded registry, through the CLI as a process (HOME in a tmp
folder, paths typed relative, run from another folder) and real git repositories.

Every pass that did something is recorded with its source, revision, trigger, outcome, changes
and refusals (file:line); retention is bounded by DEPLOYCTL_HISTORY_LIMIT; a rollback applies an
earlier revision through sync's safety checks and holds the owner until `release`."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from controller.core.history import PassOutcome, PassRecord, Trigger
from controller.errors import Ambiguous, NotFound
from controller.services.history import PassRecorder, applied_revision
from tests.cli_helpers import invoke, one_clear_line, run_deployctl
from tests.gitrepo import GitRepo, deployment_files


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def deployctl(home: Path, *args: str) -> Any:
    """The command as a process, started in the tmp folder with the repository typed relative."""
    return run_deployctl(home, *args, cwd=home.parent)


def passes(home: Path, *args: str) -> list[dict[str, Any]]:
    shown = deployctl(home, "history", *args, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    listed: list[dict[str, Any]] = json.loads(shown.stdout)
    return listed


def registry_rows(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / ".deployctl" / "registry.db") as db:
        return dict(db.execute("SELECT id, version FROM deployments"))


def two_commits(tmp_path: Path) -> tuple[GitRepo, str, str]:
    repo = GitRepo(tmp_path / "repo")
    first = repo.write(deployment_files("a")).commit("a")
    second = repo.write(deployment_files("a", cron="5 * * * *") | deployment_files("b")).commit(
        "a changed, b"
    )
    return repo, first, second


def test_every_pass_is_recorded_with_its_source_changes_and_refusals(tmp_path: Path, home: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.write(deployment_files("a")).commit("a")
    assert deployctl(home, "sync", "repo", "--owner", "team").returncode == 0
    second = repo.write(deployment_files("a", cron="5 * * * *") | deployment_files("b")).commit(
        "a changed, b"
    )
    assert deployctl(home, "sync", "repo", "--owner", "team").returncode == 0
    assert deployctl(home, "sync", "repo", "--owner", "team").returncode == 0  # idle: not recorded
    repo.write(
        {"flows/bad/deployment.yaml": "name: bad\nflow_name: etl\nentrypoint: flow.py:run\nschedule: 7\n"}
    )
    third = repo.commit("a broken manifest")
    refused = deployctl(home, "sync", "repo", "--owner", "team")
    assert refused.returncode == 2

    refusal, applied, created = passes(home, "team")
    assert [p["revision"] for p in (refusal, applied, created)] == [third, second, first]
    assert {p["trigger"] for p in (refusal, applied, created)} == {"cli"}
    assert [p["outcome"] for p in (refusal, applied, created)] == ["refused", "applied", "applied"]
    assert (applied["repository"], applied["ref"], applied["path"]) == (str(repo.root.resolve()), "main", "")
    assert applied["counts"] == {"create": 1, "update": 1, "delete": 0, "noop": 0}
    assert sorted((c["deployment"], c["action"], c["version"]) for c in applied["changes"]) == [
        ("etl/a", "update", second[:12]),
        ("etl/b", "create", second[:12]),
    ]
    assert created["changes"] == [
        {"deployment": "etl/a", "action": "create", "version": first[:12], "error": None}
    ]
    assert refusal["changes"] == [] and refusal["refusals"]
    assert refusal["refusals"][0].startswith("flows/bad/deployment.yaml:4:")
    assert all(p["duration"] > 0 and p["started_at"].endswith("+00:00") for p in (refusal, applied, created))
    assert refusal["started_at"] > applied["started_at"] > created["started_at"]

    table = deployctl(home, "history")
    assert table.returncode == 0, table.stderr
    head, *lines = table.stdout.splitlines()
    assert head.split() == [
        "STARTED_AT",
        "OWNER",
        "REVISION",
        "TRIGGER",
        "OUTCOME",
        "CHANGES",
        "DURATION",
        "ERROR",
    ]
    assert len(lines) == 3 and "1 create, 1 update" in lines[1] and third[:12] in lines[0]


def test_deployment_history_lists_the_versions_a_deployment_went_through(tmp_path: Path, home: Path) -> None:
    repo, first, second = two_commits(tmp_path)
    deployctl(home, "sync", "repo", "--owner", "team", "--ref", first)
    deployctl(home, "sync", "repo", "--owner", "team", "--ref", "main")
    shown = deployctl(home, "deployment", "history", "etl/a", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [(r["action"], r["version"], r["outcome"]) for r in rows] == [
        ("update", second[:12], "applied"),
        ("create", first[:12], "applied"),
    ]
    text = deployctl(home, "deployment", "history", "etl/b")
    assert text.stdout.split("\n")[0].split() == [
        "STARTED_AT",
        "ACTION",
        "VERSION",
        "REVISION",
        "TRIGGER",
        "OUTCOME",
        "OWNER",
    ]
    assert "create" in text.stdout and second[:12] in text.stdout
    none = deployctl(home, "deployment", "history", "etl/nothing")
    assert none.returncode == 2 and "no deployment etl/nothing in the registry" in none.stderr


def test_retention_is_bounded_by_the_history_limit_setting(tmp_path: Path, home: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    commits = []
    for minute in range(4):
        commits.append(repo.write(deployment_files("a", cron=f"{minute} * * * *")).commit(f"minute {minute}"))
        synced = invoke(
            home, "sync", "repo", "--owner", "team", cwd=tmp_path, env={"DEPLOYCTL_HISTORY_LIMIT": "2"}
        )
        assert synced.exit_code == 0, synced.stderr
    kept = json.loads(invoke(home, "history", "team", "-o", "json", cwd=tmp_path).stdout)
    assert [p["revision"] for p in kept] == commits[:1:-1]  # the newest two

    wrong = invoke(home, "history", cwd=tmp_path, env={"DEPLOYCTL_HISTORY_LIMIT": "lots"})
    assert "DEPLOYCTL_HISTORY_LIMIT='lots'" in one_clear_line(wrong)


def test_a_history_that_cannot_be_written_never_fails_a_pass(tmp_path: Path, home: Path) -> None:
    repo, first, second = two_commits(tmp_path)
    assert deployctl(home, "sync", "repo", "--owner", "team", "--ref", first).returncode == 0
    with sqlite3.connect(home / ".deployctl" / "registry.db") as db:
        db.execute("DROP TABLE pass_changes")
        db.execute("DROP TABLE passes")
    synced = deployctl(home, "sync", "repo", "--owner", "team", "--ref", "main")
    assert synced.returncode == 0, synced.stderr
    assert registry_rows(home) == {"etl/a": second[:12], "etl/b": second[:12]}
    assert "could not be added to the history" in synced.stderr


def test_the_recorder_logs_and_goes_on_when_the_store_cannot_be_opened(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unavailable() -> Any:
        raise OSError("no such server")

    recorder = PassRecorder(unavailable, keep=10)
    with caplog.at_level(logging.WARNING):
        recorder(
            PassRecord("team", Trigger.POLL, PassOutcome.APPLIED, "2026-01-01T00:00:00+00:00", 0.1, "c0ffee")
        )
    assert "could not be added to the history: no such server" in caplog.text


def test_rollback_applies_an_earlier_revision_and_holds_it_until_release(tmp_path: Path, home: Path) -> None:
    repo, first, second = two_commits(tmp_path)
    deployctl(home, "sync", "repo", "--owner", "team", "--ref", first)
    deployctl(home, "sync", "repo", "--owner", "team", "--ref", "main")

    rolled = deployctl(home, "rollback", "team", "--to", first[:8])
    assert rolled.returncode == 0, rolled.stderr
    assert f"team: held at {first[:12]}; HEAD is {second[:12]}" in rolled.stdout
    assert registry_rows(home) == {"etl/a": first[:12]}  # b pruned, a back to its first version

    (status,) = json.loads(deployctl(home, "status", "-o", "json").stdout)
    assert status["held"]["revision"] == first and status["last_applied_revision"] == first
    assert f"held at:        {first}" in deployctl(home, "status").stdout

    refused = invoke(home, "sync", "repo", "--owner", "team", cwd=tmp_path)
    line = one_clear_line(refused)
    assert line == (
        f"error: team is held at {first[:12]}; HEAD is {second[:12]}: nothing was applied "
        "(run 'deployctl release team' to follow the ref again)"
    )
    assert registry_rows(home) == {"etl/a": first[:12]}
    assert (
        invoke(home, "plan", "repo", "--owner", "team", cwd=tmp_path).exit_code == 2
    )  # plan refuses as sync

    newest = passes(home, "team")
    assert [(p["trigger"], p["outcome"], p["revision"]) for p in newest[:2]] == [
        ("cli", "refused", second),
        ("rollback", "applied", first),
    ]
    assert sorted((c["deployment"], c["action"]) for c in newest[1]["changes"]) == [
        ("etl/a", "update"),
        ("etl/b", "delete"),
    ]

    released = deployctl(home, "release", "team")
    assert released.returncode == 0 and f"team: released (was held at {first[:12]}" in released.stdout
    assert deployctl(home, "release", "team").stdout.strip() == "team: not held; nothing to release"
    assert deployctl(home, "sync", "repo", "--owner", "team").returncode == 0
    assert registry_rows(home) == {"etl/a": second[:12], "etl/b": second[:12]}
    (status,) = json.loads(deployctl(home, "status", "-o", "json").stdout)
    assert status["held"] is None


def test_rollback_goes_through_the_safety_checks_of_sync(tmp_path: Path, home: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    first = repo.write(deployment_files("a")).commit("a")
    deployctl(home, "sync", "repo", "--owner", "team")
    for name in ("b", "c", "d"):
        repo.write(deployment_files(name))
    repo.commit("three more")
    deployctl(home, "sync", "repo", "--owner", "team")

    refused = deployctl(home, "rollback", "team", "--to", first)
    assert refused.returncode == 2 and "--force-prune" in refused.stderr
    assert len(registry_rows(home)) == 4
    (status,) = json.loads(deployctl(home, "status", "-o", "json").stdout)
    assert status["held"] is None  # nothing applied, nothing held

    preview = deployctl(home, "rollback", "team", "--to", first, "--force-prune", "--dry-run")
    assert preview.returncode == 0 and "- etl/b" in preview.stdout and len(registry_rows(home)) == 4
    done = deployctl(home, "rollback", "team", "--to", first, "--force-prune")
    assert done.returncode == 0, done.stderr
    assert registry_rows(home) == {"etl/a": first[:12]}


def test_rollback_to_a_revision_never_applied_or_unknown_is_one_clear_error(
    tmp_path: Path, home: Path
) -> None:
    repo, first, second = two_commits(tmp_path)
    deployctl(home, "sync", "repo", "--owner", "team", "--ref", "main")  # `first` was never applied
    never = invoke(home, "rollback", "team", "--to", first, cwd=tmp_path)
    assert f"error: {first} is not a revision team applied" in one_clear_line(never)
    unknown = invoke(home, "rollback", "team", "--to", "0123456789ab", cwd=tmp_path)
    assert "0123456789ab is not a revision team applied" in one_clear_line(unknown)
    nobody = invoke(home, "rollback", "nobody", "--to", second, cwd=tmp_path)
    assert "no source has been synced under the owner nobody" in one_clear_line(nobody)
    assert "no source has been synced under the owner nobody" in one_clear_line(
        invoke(home, "release", "nobody")
    )
    assert registry_rows(home) == {"etl/a": second[:12], "etl/b": second[:12]}
    moving = one_clear_line(invoke(home, "rollback", "team", "--to", "HEAD~1", cwd=tmp_path))
    assert "names such as HEAD~1 or main are not taken" in moving


def test_history_of_an_unknown_owner_or_deployment_is_an_error(tmp_path: Path, home: Path) -> None:
    """As 'deployment inspect' and 'release' are: a misspelt name is exit 2, not an empty list."""
    two_commits(tmp_path)
    deployctl(home, "sync", "repo", "--owner", "team")
    owner = one_clear_line(invoke(home, "history", "tema", cwd=tmp_path))
    assert "no source has been synced under the owner tema" in owner
    deployment = one_clear_line(invoke(home, "deployment", "history", "etl/zz", cwd=tmp_path))
    assert "no deployment etl/zz in the registry or its history" in deployment
    assert invoke(home, "history", "team", cwd=tmp_path).exit_code == 0


def test_a_rollback_in_a_home_that_never_synced_creates_nothing(tmp_path: Path, home: Path) -> None:
    line = one_clear_line(invoke(home, "rollback", "team", "--to", "0123456789ab", cwd=tmp_path))
    assert line.startswith("error: no registry at") and not (home / ".deployctl").exists()


def test_only_revisions_a_pass_left_in_force_are_rollback_targets() -> None:
    def record(revision: str, outcome: PassOutcome) -> PassRecord:
        return PassRecord("team", Trigger.CLI, outcome, "2026-01-01T00:00:00+00:00", 0.1, revision)

    passes = [record("a" * 40, PassOutcome.FAILED), record("b" * 40, PassOutcome.REFUSED)]
    passes += [
        record("abcd" + "0" * 36, PassOutcome.APPLIED),
        record("abce" + "0" * 36, PassOutcome.UP_TO_DATE),
    ]
    for never in ("a" * 40, "b" * 12):
        with pytest.raises(NotFound, match="is not a revision team applied"):
            applied_revision("team", never, passes, None)
    with pytest.raises(Ambiguous, match="abcd00000000, abcd11111111"):
        applied_revision("team", "abcd", [*passes, record("abcd" + "1" * 36, PassOutcome.APPLIED)], None)
    with pytest.raises(NotFound):  # fewer than 4 digits name nothing
        applied_revision("team", "abc", passes, None)
    assert applied_revision("team", "ABCE", passes, None) == "abce" + "0" * 36
    assert (
        applied_revision("team", "c" * 7, [], "c" * 40) == "c" * 40
    )  # the status's, from before the history
