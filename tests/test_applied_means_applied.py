"""Applied means applied, on the embedded registry: a pass whose writes failed is reported as
failed, leaves the last applied revision where it was, and the next plain sync retries it.

The fault is injected inside the real SQLite file (a trigger that aborts one deployment's
insert), and removed again, so the whole pipeline runs as a person runs it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.gitrepo import deployment_files, repository

FAULT = (
    "CREATE TRIGGER refuse_b BEFORE INSERT ON deployments WHEN NEW.name = 'b' "
    "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
)


def deployctl(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_a_failed_apply_is_not_recorded_as_applied_and_the_next_sync_retries(tmp_path: Path) -> None:
    repo = repository(tmp_path / "work" / "repo", ["a"])
    home = tmp_path / "home"
    first = deployctl(tmp_path / "work", home, "sync", "repo")
    assert first.returncode == 0, first.stdout + first.stderr
    applied = repo.git("rev-parse", "HEAD")

    repo.write(deployment_files("b")).commit("b")
    database = home / ".deployctl" / "registry.db"
    with sqlite3.connect(database) as db:
        db.execute(FAULT)

    failed = deployctl(tmp_path / "work", home, "sync", "repo")
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "disk says no" in failed.stdout + failed.stderr and "Traceback" not in failed.stderr
    status = json.loads(deployctl(tmp_path, home, "status", "-o", "json").stdout)
    (source,) = status
    assert source["last_applied_revision"] == applied
    assert source["last_attempted_revision"] == repo.git("rev-parse", "HEAD")
    ready = next(c for c in source["conditions"] if c["type"] == "Ready")
    assert ready["status"] is False and ready["reason"] == "ApplyFailed"

    planned = deployctl(tmp_path / "work", home, "plan", "repo")
    assert planned.returncode == 1 and "+ etl/b" in planned.stdout, planned.stdout

    with sqlite3.connect(database) as db:
        db.execute("DROP TRIGGER refuse_b")
    retried = deployctl(tmp_path / "work", home, "sync", "repo")  # no --full
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "Applied: 1 to create, 0 to update, 0 to delete, 1 unchanged" in retried.stdout
    settled = deployctl(tmp_path / "work", home, "plan", "repo")
    assert settled.returncode == 0 and "up to date" in settled.stdout
