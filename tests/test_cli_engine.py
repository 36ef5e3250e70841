"""The standalone story as a user lives it: up, ad-hoc runs, logs, cancel, schedule drift, the API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import controller
from controller.core.runs import StateType
from controller.errors import UsageError
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent
FLOWS = (
    "import os\nimport time\n\n"
    "def hello(name='world'):\n    print(os.environ.get('GREETING', 'hello'), name)\n\n"
    "def nap():\n    time.sleep(300)\n"
)


def deployctl(state: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", "--home", str(state), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=_env(),
    )


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}


def repo_with_flows(root: Path) -> GitRepo:
    repo = GitRepo(root / "repo")
    repo.write(
        {
            "flows/flows.py": FLOWS,
            "flows/hello-deployment.yaml": "name: hello\nflow_name: hello\nentrypoint: flows.py:hello\n"
            "schedule: {cron: '0 3 * * *'}\n",
            "flows/nap-deployment.yaml": "name: nap\nflow_name: nap\nentrypoint: flows.py:nap\n",
        }
    ).commit()
    return repo


def wait_until(predicate, what: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_up_runs_flows_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    repo = repo_with_flows(tmp_path)
    state = tmp_path / "state"
    up = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "--home",
            str(state),
            "up",
            str(repo.root),
            "--poll",
            "0.2",
            "--shutdown-grace",
            "1",
        ],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stderr is not None
        wait_until(lambda: "started" in up.stderr.readline(), "deployctl up to start")
        watched = deployctl(state, "deployment", "run", "hello/hello", "--param", "name=ci", "--watch")
        assert watched.returncode == 0, watched.stdout + watched.stderr
        assert "stdout: hello ci" in watched.stdout and "finished: Completed" in watched.stdout
        scheduled = json.loads(
            deployctl(
                state, "flow-run", "ls", "--deployment", "hello/hello", "--state", "SCHEDULED", "-o", "json"
            ).stdout
        )
        assert len(scheduled) == 3, "the scheduler filled the daily schedule"
        napping = deployctl(state, "deployment", "run", "nap/nap").stdout.split()[3]
        wait_until(lambda: "Running" in deployctl(state, "flow-run", "inspect", napping).stdout, "the nap")
        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=60) == 0
    finally:
        if up.poll() is None:
            up.kill()
    inspected = json.loads(deployctl(state, "flow-run", "inspect", napping).stdout)
    assert inspected["state"] == "Cancelled", "a flow still running past the grace period is cancelled"


def test_cancel_scheduled_run_logs_and_schedule_commands_are_drift(tmp_path: Path) -> None:
    repo = repo_with_flows(tmp_path)
    state = tmp_path / "state"
    assert deployctl(state, "sync", str(repo.root)).returncode == 0
    created = deployctl(state, "deployment", "run", "hello/hello", "--start-in", "1h")
    run_id = created.stdout.split()[3]
    cancelled = deployctl(state, "flow-run", "cancel", run_id)
    assert cancelled.returncode == 0 and "cancelled flow run" in cancelled.stdout
    assert json.loads(deployctl(state, "flow-run", "inspect", run_id).stdout)["state"] == "Cancelled"
    again = deployctl(state, "flow-run", "cancel", run_id)
    assert again.returncode == 2 and "already finished" in again.stderr

    assert (
        deployctl(
            state,
            "deployment",
            "schedule",
            "create",
            "hello/hello",
            "--interval",
            "PT30M",
            "--slug",
            "half-hourly",
        ).returncode
        == 0
    )
    listed = json.loads(deployctl(state, "deployment", "schedule", "ls", "hello/hello", "-o", "json").stdout)
    assert [(s["slug"], s["kind"]) for s in listed] == [("schedule-0", "cron"), ("half-hourly", "interval")]
    assert deployctl(state, "deployment", "pause-schedule", "hello/hello").returncode == 0
    planned = deployctl(state, "plan", str(repo.root), "--full")
    assert planned.returncode == 1 and "~ hello/hello  (drifted in the registry)" in planned.stdout
    assert deployctl(state, "sync", str(repo.root), "--full").returncode == 0
    restored = json.loads(
        deployctl(state, "deployment", "schedule", "ls", "hello/hello", "-o", "json").stdout
    )
    assert [(s["kind"], s["active"]) for s in restored] == [("cron", True)]
    bad = deployctl(state, "deployment", "set-schedule", "hello/hello", "--cron", "61 * * * *")
    assert bad.returncode == 2 and "minute must be 0-59" in bad.stderr


def test_run_deployment_python_api_follows_prefects_signature(tmp_path: Path) -> None:
    repo = repo_with_flows(tmp_path)
    state = tmp_path / "state"
    assert deployctl(state, "sync", str(repo.root)).returncode == 0
    later = datetime.now(UTC) + timedelta(hours=1)
    scheduled = controller.run_deployment(
        "hello/hello", {"name": "api"}, scheduled_time=later, timeout=0, idempotency_key="k1", home=str(state)
    )
    assert scheduled.state.name == "Scheduled" and scheduled.state.type is StateType.SCHEDULED
    assert scheduled.parameters == {"name": "api"} and scheduled.expected_start_time.startswith(
        later.date().isoformat()
    )
    again = controller.run_deployment("hello/hello", timeout=0, idempotency_key="k1", home=str(state))
    assert again.id == scheduled.id, "the same idempotency key returns the run created first"
    with pytest.raises(UsageError, match="job_variables.env.A=B: a variable name cannot contain '='"):
        controller.run_deployment("hello/hello", job_variables={"env": {"A=B": "x"}}, home=str(state))
    with pytest.raises(UsageError, match="tags: every tag must be a non-empty string"):
        controller.run_deployment("hello/hello", tags=["ok", ""], home=str(state))
    with pytest.raises(UsageError, match="tags: give a list of strings, got 5"):
        controller.run_deployment("hello/hello", tags=5, home=str(state))  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="flow_run_name: give a non-empty name"):
        controller.run_deployment("hello/hello", flow_run_name=5, home=str(state))  # type: ignore[arg-type]
    runner = subprocess.Popen(
        [sys.executable, "-m", "controller", "--home", str(state), "runner", "--poll", "0.2"],
        cwd=ROOT,
        env=_env(),
        stderr=subprocess.DEVNULL,
    )
    try:
        finished = controller.run_deployment("hello/hello", timeout=60, poll_interval=0.2, home=str(state))
        # Prefect's per-run settings: a name, tags, and job variables over the deployment's
        custom = controller.run_deployment(
            "hello/hello",
            flow_run_name="by-hand",
            tags=["adhoc", "api"],
            job_variables={"env": {"GREETING": "hi"}},
            timeout=60,
            poll_interval=0.2,
            home=str(state),
        )
        plain = controller.run_deployment("hello/hello", timeout=60, poll_interval=0.2, home=str(state))
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert finished.state.is_completed() and not finished.state.is_failed()
    logs = deployctl(state, "flow-run", "logs", finished.id).stdout
    assert logs.strip().endswith("stdout: hello world")
    assert custom.state.is_completed() and (custom.name, custom.tags) == ("by-hand", ("adhoc", "api"))
    assert deployctl(state, "flow-run", "logs", custom.id).stdout.strip().endswith("stdout: hi world")
    inspected = json.loads(deployctl(state, "flow-run", "inspect", custom.id).stdout)
    assert (inspected["name"], inspected["tags"]) == ("by-hand", ["adhoc", "api"])
    # the job variables were that run's only: the next run has the deployment's environment
    assert plain.name.startswith("hello-") and plain.tags == ()
    assert deployctl(state, "flow-run", "logs", plain.id).stdout.strip().endswith("stdout: hello world")


def test_up_with_an_invalid_newest_commit_keeps_running_the_last_applied_revision(tmp_path: Path) -> None:
    """As the README runs it: only HOME set, a relative source path, commands from elsewhere."""
    repo = repo_with_flows(tmp_path)
    env = {**_env(), "HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "controller"]
    synced = subprocess.run([*command, "sync", "repo"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert synced.returncode == 0, synced.stderr
    repo.write(
        {"flows/flows.py": FLOWS.replace("'hello'", "'changed'"), "flows/bad-deployment.yaml": "nme: x\n"}
    )
    repo.commit("an invalid manifest")
    up = subprocess.Popen(
        [*command, "up", "repo", "--poll", "0.2", "--shutdown-grace", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert up.stderr is not None
        early: list[str] = []

        def started() -> bool:
            early.append(up.stderr.readline())  # type: ignore[union-attr]
            return "started" in early[-1]

        wait_until(started, "deployctl up to start")
        watched = subprocess.run(
            [*command, "deployment", "run", "hello/hello", "--watch"],
            cwd="/",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert watched.returncode == 0, watched.stdout + watched.stderr
        assert "stdout: hello world" in watched.stdout, "the last applied revision runs"
        up.send_signal(signal.SIGTERM)
        out, err = up.communicate(timeout=60)
        assert up.returncode == 0
    finally:
        if up.poll() is None:
            up.kill()
    assert "bad-deployment.yaml:1:1" in out and "nothing was applied" in "".join(early) + err
    assert "the last applied revision keeps running" in "".join(early) + err


def test_run_watch_says_when_no_runner_serves_the_queue_and_stops_at_its_timeout(tmp_path: Path) -> None:
    """As typed, with only HOME set: relative paths, from a folder other than the repository."""
    import sqlite3

    from tests.cli_helpers import run_deployctl

    repo_with_flows(tmp_path)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    assert run_deployctl(home, "sync", "../repo", cwd=work).returncode == 0
    alone = run_deployctl(home, "deployment", "run", "hello/hello", "--watch", "--timeout", "1.5", cwd=work)
    assert alone.returncode == 2, alone.stderr
    run_id = alone.stdout.split()[3]
    assert alone.stderr.splitlines() == [
        "waiting: no runner serves work queue 'default' (none was heard from in the last 20 s): "
        "start 'deployctl runner' or 'deployctl up'; the run waits until one does",
        f"error: flow run {run_id} is still Scheduled after --timeout 1.5 s; "
        f"it goes on ('deployctl flow-run cancel {run_id}' stops it)",
    ]
    assert run_deployctl(home, "flow-run", "cancel", run_id[:8], cwd=work).returncode == 0
    assert run_deployctl(home, "work-queue", "pause", "default", cwd=work).returncode == 0
    paused = run_deployctl(home, "deployment", "run", "hello/hello", "--watch", "--timeout", "1", cwd=work)
    assert (
        "waiting: work queue 'default' is paused: no runner takes its runs until 'deployctl work-queue"
        in (paused.stderr)
    )
    assert run_deployctl(home, "work-queue", "resume", "default", cwd=work).returncode == 0
    env = {**_env(), "HOME": str(home)}
    runner = subprocess.Popen(
        [str(Path(sys.executable).parent / "deployctl"), "runner", "--poll", "0.2"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        registry = home / ".deployctl" / "registry.db"

        def heard() -> bool:
            with sqlite3.connect(registry) as db:
                return bool(db.execute("SELECT count(*) FROM runners").fetchone()[0])

        wait_until(heard, "the runner's first heartbeat")
        served = run_deployctl(
            home, "deployment", "run", "hello/hello", "--watch", "--timeout", "100", cwd=work
        )
        assert served.returncode == 0 and "waiting:" not in served.stderr, served.stderr
        assert served.stdout.rstrip().endswith("finished: Completed")
    finally:
        runner.terminate()
        runner.wait(60)
