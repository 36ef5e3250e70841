"""The process runner with real subprocesses and a real registry; the clock is passed in."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from controller.adapters.sqlite.runs import SqliteRunStore
from controller.core.runs import StateType, iso
from controller.runtime.ad_hoc import RunRefused, create_run
from controller.runtime.runner import Runner
from tests.engine_helpers import NOW, Engine, finish, make_engine, manifest, pgids

ROOT = Path(__file__).resolve().parent.parent

FLOWS = """
import os, subprocess, sys, time

def ok(name="world"):
    print("hello", name)

def boom():
    print("working")
    raise ValueError("the data was bad")

def slow():
    print("sleeping", flush=True)
    time.sleep(120)

def chatty(n=100000):
    for i in range(n):
        print(f"line {i}")

def stubborn():
    code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('child', flush=True); time.sleep(300)")
    subprocess.Popen([sys.executable, "-c", code])
    time.sleep(300)

def show_env():
    leaked = [k for k in sorted(os.environ) if "SECRET" in k or "TOKEN" in k or "AUTH" in k
              or k.startswith(("PREFECT_API_KEY", "GIT_CONFIG", "DEPLOYCTL_ASKPASS", "DEPLOYCTL_GIT"))]
    print(os.environ.get("DEPLOYCTL_FLOW_RUN_ID"), os.environ.get("TEAM"), os.environ.get("LEVEL"),
          ",".join(leaked) or "no-secrets")

def version():
    print("v1")
"""

SCHEMA = """parameter_openapi_schema:
  type: object
  properties:
    name: {type: string}
  required: null
enforce_parameter_schema: true
"""

INFRA = (
    "infrastructure:\n  type: process\n  env: {TEAM: data, LEVEL: info}\n"
    "job_variables:\n  env: {LEVEL: debug}\n"
)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    files = {
        "f/flows.py": FLOWS,
        ".deployctl.yaml": "deployments:\n  slow/slow: {timeout_seconds: 5}\n"
        "  boom/boom: {retries: 1, retry_delay_seconds: 30}\n",
    }
    for name, extra in (
        ("ok", SCHEMA),
        ("boom", ""),
        ("slow", ""),
        ("chatty", ""),
        ("stubborn", ""),
        ("show_env", INFRA),
        ("version", ""),
    ):
        files[f"f/{name}-deployment.yaml"] = manifest(name, name, extra)
    return make_engine(tmp_path, files)


def start(engine: Engine, runner: Runner, deployment: str, **parameters: object) -> str:
    run = create_run(engine.store, deployment, parameters, now=NOW)
    assert runner.tick(NOW) == [run.id]
    return run.id


def wait_for_log(engine: Engine, runner: Runner, run_id: str, text: str) -> None:
    deadline = time.monotonic() + 30
    while not any(text in line for *_, line in engine.store.logs(run_id)):
        assert time.monotonic() < deadline, f"no {text!r} in the logs"
        runner.flush_logs()
        time.sleep(0.05)


def test_a_flow_that_succeeds_with_its_parameters_and_logs(engine: Engine) -> None:
    runner = engine.runner()
    run_id = start(engine, runner, "ok/ok", name="team")
    finish(runner, run_id, NOW + timedelta(seconds=1))
    run = engine.run(run_id)
    assert (run.state_type, run.state_name, run.run_count) == (StateType.COMPLETED, "Completed", 1)
    assert [line for *_, line in engine.store.logs(run_id)] == ["hello team"]
    assert [s["name"] for s in engine.store.states(run_id)] == [
        "Scheduled",
        "Pending",
        "Running",
        "Completed",
    ]


def test_a_failing_flow_reports_its_exception_and_retries(engine: Engine) -> None:
    runner = engine.runner()
    run_id = start(engine, runner, "boom/boom")
    finish(runner, run_id, NOW + timedelta(seconds=1))
    run = engine.run(run_id)
    assert (run.state_type, run.state_name) == (StateType.SCHEDULED, "AwaitingRetry")
    assert run.expected_start_time == iso(NOW + timedelta(seconds=31))
    assert runner.tick(NOW + timedelta(seconds=10)) == []
    assert runner.tick(NOW + timedelta(seconds=32)) == [run_id]
    assert engine.run(run_id).state_name == "Retrying"
    finish(runner, run_id, NOW + timedelta(seconds=33))
    run = engine.run(run_id)
    assert (run.state_type, run.state_name, run.run_count) == (StateType.FAILED, "Failed", 2)
    assert run.state_message.startswith("exit code 1:")
    assert run.state_message.splitlines()[-1] == "ValueError: the data was bad"


def test_a_flow_that_runs_too_long_is_timed_out(engine: Engine) -> None:
    runner = engine.runner()
    run_id = start(engine, runner, "slow/slow")
    wait_for_log(engine, runner, run_id, "sleeping")
    runner.tick(NOW + timedelta(seconds=4))
    assert engine.run(run_id).state_type is StateType.RUNNING
    runner.tick(NOW + timedelta(seconds=6))
    finish(runner, run_id, NOW + timedelta(seconds=7))
    run = engine.run(run_id)
    assert (run.state_type, run.state_name) == (StateType.FAILED, "TimedOut")


def test_cancelling_kills_the_whole_group_even_a_child_that_ignores_sigterm(engine: Engine) -> None:
    runner = engine.runner()
    run_id = start(engine, runner, "stubborn/stubborn")
    wait_for_log(engine, runner, run_id, "child")
    group = runner.running[run_id].pgid
    assert len(list(pgids(group))) == 2
    engine.store.set_state(run_id, StateType.CANCELLING, "Cancelling", iso(NOW))
    runner.tick(NOW + timedelta(seconds=1))
    finish(runner, run_id, NOW + timedelta(seconds=2))
    assert (engine.run(run_id).state_type, engine.run(run_id).state_name) == (
        StateType.CANCELLED,
        "Cancelled",
    )
    deadline = time.monotonic() + 10
    while list(pgids(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(pgids(group)) == []


def test_a_hundred_thousand_lines_are_all_logged_in_order(engine: Engine) -> None:
    runner = engine.runner()
    run_id = start(engine, runner, "chatty/chatty")
    finish(runner, run_id, NOW + timedelta(seconds=1), timeout=120)
    logs = engine.store.logs(run_id, limit=200_000)
    assert len(logs) == 100_000
    assert (logs[0][3], logs[-1][3]) == ("line 0", "line 99999")
    assert [seq for seq, *_ in logs[:3]] == [1, 2, 3]


def test_parameters_against_the_schema_are_refused(engine: Engine) -> None:
    with pytest.raises(RunRefused, match="name: 5 is not of type 'string'"):
        create_run(engine.store, "ok/ok", {"name": 5}, now=NOW)
    assert engine.store.list_runs("ok/ok") == []


def test_environment_has_infrastructure_and_job_variables_but_no_controller_secrets(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = ["DEPLOYCTL_GIT_TOKEN", "DEPLOYCTL_GIT_SSH_KEY", "DEPLOYCTL_WEBHOOK_SECRET", "PREFECT_API_KEY",
               "PREFECT_API_AUTH_STRING", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_3",
               "GIT_CONFIG_VALUE_3", "GITHUB_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN"]  # fmt: skip
    for name in secrets:  # every credential deployctl itself reads (issue 26 item 5)
        monkeypatch.setenv(name, "super-secret")
    runner = engine.runner()
    run_id = start(engine, runner, "show_env/show_env")
    finish(runner, run_id, NOW + timedelta(seconds=1))
    assert [line for *_, line in engine.store.logs(run_id)] == [f"{run_id} data debug no-secrets"]


def test_two_runners_never_claim_the_same_run(engine: Engine) -> None:
    runs = [create_run(engine.store, "ok/ok", now=NOW).id for _ in range(30)]
    stores = [SqliteRunStore(engine.store.path) for _ in range(3)]
    barrier = threading.Barrier(len(stores))
    claimed: list[list[str]] = []

    def claim(store: SqliteRunStore, runner_id: str) -> None:
        barrier.wait()
        taken: list[str] = []
        for _ in range(10):
            taken += [r.id for r in store.claim(runner_id, None, iso(NOW), 2)]
        claimed.append(taken)

    threads = [threading.Thread(target=claim, args=(s, f"runner-{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [run for taken in claimed for run in taken]
    assert sorted(everything) == sorted(runs) and len(set(everything)) == len(everything)


def test_a_run_executes_its_own_version_after_a_newer_commit(engine: Engine) -> None:
    run = create_run(engine.store, "version/version", now=NOW)
    engine.repo.write({"f/flows.py": FLOWS.replace('print("v1")', 'print("v2")')}).commit("v2")
    engine.sync()
    runner = engine.runner()
    assert runner.tick(NOW) == [run.id]
    finish(runner, run.id, NOW + timedelta(seconds=1))
    assert [line for *_, line in engine.store.logs(run.id)] == ["v1"]
    later = create_run(engine.store, "version/version", now=NOW)
    runner.tick(NOW)
    finish(runner, later.id, NOW + timedelta(seconds=1))
    assert [line for *_, line in engine.store.logs(later.id)] == ["v2"]


def test_a_runner_killed_mid_run_leaves_a_crashed_run_and_no_process(engine: Engine) -> None:
    run = create_run(engine.store, "stubborn/stubborn", now=NOW)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "--home",
            str(engine.settings.home),
            "runner",
            "--poll",
            "0.2",
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any("child" in line for *_, line in engine.store.logs(run.id)):
            assert time.monotonic() < deadline, "the runner never started the flow"
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    group = engine.run(run.id).pid
    assert group is not None and len(list(pgids(group))) == 2, "the flow outlives its runner"
    restarted = engine.runner()
    restarted.tick(NOW + timedelta(days=365))  # well past the heartbeat timeout of the dead runner
    crashed = engine.run(run.id)
    assert (crashed.state_type, crashed.state_message) == (
        StateType.CRASHED,
        "its runner stopped sending heartbeats",
    )
    deadline = time.monotonic() + 10
    while list(pgids(group)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(pgids(group)) == []


def test_a_flow_that_cannot_start_is_crashed_not_stuck(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        {
            "f/flows.py": FLOWS,
            "f/deployment.yaml": manifest(
                "ok", "ok", "infrastructure:\n  type: process\n  working_dir: /nonexistent/folder\n"
            ),
        },
    )
    runner = engine.runner()
    run = create_run(engine.store, "ok/ok", now=NOW)
    assert runner.tick(NOW) == []
    crashed = engine.run(run.id)
    assert crashed.state_type is StateType.CRASHED and "cannot start the flow" in crashed.state_message
    assert runner.running == {}


def test_concurrency_limits_of_runner_queue_and_deployment(tmp_path: Path) -> None:
    files = {
        "f/flows.py": FLOWS,
        "f/a-deployment.yaml": manifest("a", "ok"),
        "f/prefect.yaml": "deployments:\n- {name: limited, entrypoint: flows.py:ok, "
        "concurrency_limit: 1, work_pool: {work_queue_name: other}}\n",
    }
    engine = make_engine(tmp_path, files)
    for deployment in ("a/a", "a/a", "a/a", "ok/limited", "ok/limited"):
        create_run(engine.store, deployment, now=NOW)
    store = engine.store
    assert len(store.claim("r1", None, iso(NOW), 2)) == 2, "the runner's own limit"
    engine.store.update_queue("default", iso(NOW), concurrency_limit=2)
    taken = store.claim("r2", None, iso(NOW), 10)
    assert [r.deployment_id for r in taken] == ["ok/limited"], "queue full at 2; deployment limit 1"
    engine.store.update_queue("other", iso(NOW), paused=1)
    engine.store.update_queue("default", iso(NOW), concurrency_limit=None)
    assert [r.deployment_id for r in store.claim("r3", None, iso(NOW), 10)] == ["a/a"]
    assert store.claim("r3", ["other"], iso(NOW), 10) == [], "a paused queue gives nothing"


PREFECT_STYLE = """from prefect import flow, get_run_logger

@flow(name="greeter", retries=2, retry_delay_seconds=5)
def greet(name: str = "world"):
    get_run_logger().info("greeting %s", name)
    print("hello", name)
"""


def test_a_prefect_flow_runs_its_function_without_prefect_installed(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        {
            "p/flows.py": PREFECT_STYLE,
            "p/prefect.yaml": "deployments:\n- {name: hi, entrypoint: flows.py:greet}\n",
        },
    )
    record = engine.store.deployment_snapshot("greeter/hi")
    assert record is not None and record[3]["run_policy"]["retries"] == 2
    runner = engine.runner()
    run = create_run(engine.store, "greeter/hi", {"name": "ops"}, now=NOW)
    runner.tick(NOW)
    finish(runner, run.id, NOW + timedelta(seconds=1))
    assert engine.run(run.id).state_name == "Completed", engine.run(run.id).state_message
    lines = [(stream, line) for _, _, stream, line in engine.store.logs(run.id)]
    assert ("stdout", "hello ops") in lines
    assert any(stream == "stderr" and line.endswith("greeting ops") for stream, line in lines)
