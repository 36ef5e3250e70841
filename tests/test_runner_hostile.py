"""The runner against hostile and careless flows: real processes, a real registry, short grace.

Covers issue 7 item 4 (an isolated launcher), the runner part of item 1 (absolute paths) and
issue 12 item 4 (process groups, output that never blocks or bloats the runner, cancel races).
"""

from __future__ import annotations

import os
import resource
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.core.runs import FlowRun, StateType, iso
from controller.runtime.ad_hoc import create_run
from controller.runtime.runner import Runner, RunnerConfig
from controller.services.runs import Runs
from tests.engine_helpers import NOW, Engine, finish, make_engine, manifest, pgids

FLOWS = """
import os, subprocess, sys, time
import yaml

def own_modules():
    print("yaml is", yaml.WHO)

def exits():
    sys.exit(3)

def typed(name="x"):
    print(name)

def leaves_children():
    child = subprocess.Popen(["sleep", "300"])  # same group, holds stdout
    escaped = subprocess.Popen(["sleep", "300"], start_new_session=True)  # its own session, holds stdout
    print("children", child.pid, escaped.pid, flush=True)

def where():
    print("cwd", os.getcwd())

def long_line():
    chunk = b"x" * (1 << 20)
    for _ in range(400):
        sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.write(b"\\nafter\\n")

def quick():
    print("done")
"""

SHADOWS = {
    "f/yaml.py": "WHO = 'the flow folder'\n",
    "f/logging.py": "raise ImportError('the flow folder logging.py was imported')\n",
    "f/controller.py": "raise ImportError('the flow folder controller.py was imported')\n",
}


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    files = {"f/flows.py": FLOWS, **SHADOWS}
    for name in ("own_modules", "exits", "typed", "leaves_children", "where", "long_line", "quick"):
        files[f"f/{name}-deployment.yaml"] = manifest(name, name)
    files["f/relative-deployment.yaml"] = manifest(
        "relative", "where", "infrastructure:\n  type: process\n  working_dir: sub\n"
    )
    files["f/sub/keep.txt"] = "a folder inside the code\n"
    files["f/nopython-deployment.yaml"] = manifest(
        "nopython", "quick", "job_variables:\n  env: {PYTHONHOME: /nonexistent-python-home}\n"
    )
    files[".deployctl.yaml"] = "deployments:\n  nopython/nopython: {retries: 2}\n"
    return make_engine(tmp_path, files)


def run_to_end(engine: Engine, runner: Runner, deployment: str, **parameters: object) -> FlowRun:
    run = create_run(engine.store, deployment, parameters, now=NOW)
    assert runner.tick(NOW) == [run.id], engine.run(run.id).state_message
    finish(runner, run.id, NOW + timedelta(seconds=1))
    return engine.run(run.id)


def lines(engine: Engine, run_id: str) -> list[str]:
    return [line for *_, line in engine.store.logs(run_id)]


def test_a_flow_folder_with_controller_logging_and_yaml_modules_runs(engine: Engine) -> None:
    run = run_to_end(engine, engine.runner(), "own_modules/own_modules")
    assert run.state_name == "Completed", run.state_message
    assert lines(engine, run.id) == ["yaml is the flow folder"]


def test_exit_codes_and_the_exception_line_are_reported(engine: Engine) -> None:
    runner = engine.runner()
    exited = run_to_end(engine, runner, "exits/exits")
    assert (exited.state_name, exited.state_message.splitlines()[0]) == ("Failed", "exit code 3:")
    typed = run_to_end(engine, runner, "typed/typed", nosuch=1)
    assert typed.state_name == "Failed"
    assert typed.state_message.endswith("TypeError: typed() got an unexpected keyword argument 'nosuch'")


def test_a_launcher_that_cannot_start_is_crashed_and_not_retried(engine: Engine) -> None:
    run = run_to_end(engine, engine.runner(), "nopython/nopython")
    assert (run.state_type, run.run_count) == (StateType.CRASHED, 1), run.state_message
    assert run.state_message.startswith("the flow launcher failed (exit code 1)")


def test_relative_state_and_working_dir_do_not_depend_on_the_runner_cwd(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = Path(os.path.relpath(engine.settings.home / "runs", tmp_path))
    runner = Runner(engine.runner().store, RunnerConfig(relative), engine.runner().read_artifact)
    run = run_to_end(engine, runner, "relative/relative")
    assert run.state_name == "Completed", run.state_message
    (line,) = lines(engine, run.id)
    assert line.startswith("cwd /") and line.endswith(f"{run.id}/attempt-1/code/sub")


def test_the_run_ends_with_its_process_and_its_leftovers_are_killed(engine: Engine) -> None:
    runner = engine.runner(output_drain=0.3)
    run = create_run(engine.store, "leaves_children/leaves_children", now=NOW)
    runner.tick(NOW)
    group = runner.running[run.id].pgid
    started = time.monotonic()
    slowest = 0.0
    while run.id in runner.running:
        assert time.monotonic() - started < 10, "the run did not end with its process"
        before = time.monotonic()
        runner.tick(NOW)
        slowest = max(slowest, time.monotonic() - before)
        runner.wake.wait(0.05)
    assert slowest < 1.0, f"a tick blocked for {slowest:.1f} s"
    assert engine.run(run.id).state_name == "Completed"
    (line,) = [x for x in lines(engine, run.id) if x.startswith("children")]
    escaped = int(line.split()[2])
    try:
        deadline = time.monotonic() + 5
        while list(pgids(group)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(pgids(group)) == [], "a child in the run's group outlived it"
    finally:
        os.kill(escaped, signal.SIGKILL)


def test_one_huge_line_is_capped_with_a_marker_and_memory_stays_bounded(engine: Engine) -> None:
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; the runner runs in-process
    run = run_to_end(engine, engine.runner(), "long_line/long_line")
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert growth < 100 * 1024, f"a 400 MB line grew the runner's peak memory by {growth // 1024} MB"
    assert run.state_name == "Completed", run.state_message
    huge, after = lines(engine, run.id)
    assert huge == "x" * 65536 + f" [line truncated: {400 * (1 << 20) - 65536} more bytes]"
    assert after == "after"


class RacingStore:
    """The real store, with a cancel request landing at a chosen moment (behind the port)."""

    def __init__(self, store: Any, after_claim: bool = False) -> None:
        self.store, self.after_claim = store, after_claim

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def claim(self, *args: Any) -> list[FlowRun]:
        claimed: list[FlowRun] = self.store.claim(*args)
        for run in claimed if self.after_claim else []:
            self.store.request_cancel(run.id, iso(NOW))
        return claimed


def test_cancelling_a_pending_run_stops_it_before_it_starts(engine: Engine) -> None:
    runner = engine.runner()
    runner.store = RacingStore(runner.store, after_claim=True)  # type: ignore[assignment]
    run = create_run(engine.store, "quick/quick", now=NOW)
    assert runner.tick(NOW) == []
    cancelled = engine.run(run.id)
    assert (cancelled.state_type, cancelled.state_message) == (
        StateType.CANCELLED,
        "cancelled before it started",
    )
    assert lines(engine, run.id) == [] and runner.running == {}


def test_a_cancel_racing_completion_resolves_to_the_real_final_state(engine: Engine) -> None:
    runner = engine.runner()
    run = create_run(engine.store, "quick/quick", now=NOW)
    runner.tick(NOW)
    runner.running[run.id].popen.wait(timeout=30)
    Runs(engine.store).cancel(run.id)  # the process has ended; the runner has not recorded it yet
    finish(runner, run.id, NOW + timedelta(seconds=1))
    assert engine.run(run.id).state_name == "Completed"
    stale = StaleRuns(engine.store, engine.run(run.id))
    Runs(stale).cancel(run.id)  # a cancel that read the run just before it completed
    assert engine.run(run.id).state_name == "Completed", "a finished run was put back into Cancelling"


class StaleRuns(RacingStore):
    """Answers ``get`` once with what the run looked like while it was still running."""

    def __init__(self, store: Any, finished: FlowRun) -> None:
        super().__init__(store)
        self.stale: FlowRun | None = FlowRun(**{**finished.__dict__, "state_type": StateType.RUNNING})

    def get(self, run_id: str) -> FlowRun | None:
        stale, self.stale = self.stale, None
        return stale or self.store.get(run_id)  # type: ignore[no-any-return]


class BadEnvironment(RacingStore):
    def snapshot(self, digest: str) -> tuple[dict[str, Any], str | None]:
        record, artifact = self.store.snapshot(digest)
        if record["name"] == "exits":
            record["job_variables"] = {"env": {"A=B": "x", "NUL": "a\0b"}}
        return record, artifact


def test_a_run_with_an_impossible_environment_crashes_alone(engine: Engine) -> None:
    runner = engine.runner()
    runner.store = BadEnvironment(runner.store)  # type: ignore[assignment]
    bad = create_run(engine.store, "exits/exits", now=NOW)
    good = create_run(engine.store, "quick/quick", now=NOW)
    assert runner.tick(NOW) == [good.id]
    crashed = engine.run(bad.id)
    assert crashed.state_type is StateType.CRASHED
    assert crashed.state_message == "cannot start the flow: environment variable 'A=B': " + (
        "a variable name cannot contain '=' or a NUL byte"
    )
    finish(runner, good.id, NOW + timedelta(seconds=1))
    assert engine.run(good.id).state_name == "Completed"
