"""Retention of run folders and logs, log text made printable, and the runner started the way
people start it: only HOME set, a relative DEPLOYCTL_HOME, from another directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from controller.core.log_text import printable
from controller.core.runs import StateType, iso
from controller.runtime.ad_hoc import create_run
from tests.cli_helpers import invoke
from tests.engine_helpers import Engine, finish, make_engine, manifest
from tests.gitrepo import GitRepo

FLOW = "def hello():\n    print('hello')\n"


def test_run_folders_and_logs_older_than_the_retention_are_removed(tmp_path: Path) -> None:
    engine: Engine = make_engine(tmp_path, {"f/flows.py": FLOW, "f/deployment.yaml": manifest("h", "hello")})
    now = datetime.now(UTC)
    runner = engine.runner(retention=timedelta(days=7))
    old, recent = (create_run(engine.store, "h/h", now=now) for _ in range(2))
    for run in (old, recent):
        runner.tick(now)
        finish(runner, run.id, now)
    folders = engine.settings.home / "runs"
    week_ago = (now - timedelta(days=8)).timestamp()
    os.utime(folders / old.id, (week_ago, week_ago))
    engine.store.set_state(
        old.id, StateType.COMPLETED, "Completed", iso(now), end_time=iso(now - timedelta(days=8))
    )
    assert engine.store.logs(old.id) and (folders / old.id).is_dir()
    engine.runner(retention=timedelta(days=7)).tick(now + timedelta(seconds=1))
    assert sorted(p.name for p in folders.iterdir()) == [recent.id]
    assert engine.store.logs(old.id) == [] and [line for *_, line in engine.store.logs(recent.id)] == [
        "hello"
    ]


def test_terminal_escape_sequences_are_shown_not_obeyed() -> None:
    hostile = "\x1b]52;c;ZXZpbA==\x07red \x1b[31mtext\x1b[0m\tcol\x9b2J\rline\u2028"
    shown = printable(hostile)
    assert shown == "\\x1b]52;c;ZXZpbA==\\x07red \\x1b[31mtext\\x1b[0m\tcol\\x9b2J\\x0dline\\u2028"
    assert printable("plain ünïcode\ttab") == "plain ünïcode\ttab"


def test_runner_started_elsewhere_with_a_relative_home_completes_a_run(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write({"flows.py": FLOW, "deployment.yaml": manifest("h", "hello")}).commit("flows")
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    env = {"DEPLOYCTL_HOME": "state"}  # relative: resolved against the directory started from
    assert invoke(home, "sync", "../repo", cwd=elsewhere, env=env).exit_code == 0
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}
    runner = subprocess.Popen(
        [sys.executable, "-m", "controller", "runner", "--poll", "0.2"],
        cwd=elsewhere,
        env={**clean, "HOME": str(home), **env},
        stderr=subprocess.DEVNULL,
    )
    try:
        result = invoke(home, "deployment", "run", "h/h", "--watch", cwd=elsewhere, env=env)
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "hello" in result.stdout and "Completed" in result.stdout + result.stderr
    assert (elsewhere / "state" / "runs").is_dir() and not (home / ".deployctl" / "runs").exists()
