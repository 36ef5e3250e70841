"""A chatty flow cannot grow the runner, silence its heartbeat, or fill the registry (issue 26 item 2).

Real flows printing hundreds of thousands of lines, a real registry, the real loops. The only
stand-in is a store wrapper (behind the ``RunStore`` port) that holds the poll loop inside a
log write and counts heartbeats, so "the heartbeat does not wait for log writes" is shown by
events, not timings. The full-size figures (1,000,000 lines in 40 s) are in
``benchmarks.bench_engine``.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.storage import read_artifact
from controller.core.runs import StateType
from controller.runtime.ad_hoc import create_run
from controller.runtime.loops import LoopSettings, serve
from controller.runtime.processes import LogLimit
from controller.runtime.runner import RunnerConfig
from tests.engine_helpers import NOW, Engine, finish, make_engine, manifest
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.stress

FLOWS = """
def chatty(n=300000):
    for i in range(n):
        print(f"line {i}")
"""
LINES = 300_000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    files = {"f/flows.py": FLOWS, "f/chatty-deployment.yaml": manifest("chatty", "chatty")}
    return make_engine(tmp_path, files)


def wait_for(condition: Callable[[], bool], timeout: float = 120) -> bool:
    """Check ``condition`` until it holds (the loops run in their own threads, with no event to await)."""
    done = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        done.wait(0.05)
    return True


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_a_run_keeps_its_log_limit_and_ends_with_a_marker_of_what_was_dropped(engine: Engine) -> None:
    before = peak_kib()  # the runner runs in this process
    runner = engine.runner(log_limit=LogLimit(lines=1000, bytes=0), log_queue=500, log_batch=200)
    run = create_run(engine.store, "chatty/chatty", now=NOW)
    assert runner.tick(NOW) == [run.id]
    finish(runner, run.id, NOW + timedelta(seconds=1), timeout=120)
    growth_mib = (peak_kib() - before) // 1024
    assert engine.run(run.id).state_type is StateType.COMPLETED, engine.run(run.id).state_message
    stored = [line for *_, line in engine.store.logs(run.id)]
    assert stored[:1000] == [f"line {i}" for i in range(1000)]
    dropped_bytes = sum(len(f"line {i}") for i in range(1000, LINES))
    assert stored[1000:] == [
        f"[deployctl: {LINES - 1000} more lines ({dropped_bytes} bytes) of output were dropped: the run "
        "reached its log limit of 1000 lines / unlimited bytes (--max-log-lines, --max-log-bytes)]"
    ]
    assert growth_mib < 50, f"300,000 lines grew the runner's peak memory by {growth_mib} MiB"


def test_a_byte_limit_cuts_the_log_too(engine: Engine) -> None:
    runner = engine.runner(log_limit=LogLimit(lines=0, bytes=1000))
    run = create_run(engine.store, "chatty/chatty", {"n": 1000}, now=NOW)
    assert runner.tick(NOW) == [run.id]
    finish(runner, run.id, NOW + timedelta(seconds=1))
    stored = [line for *_, line in engine.store.logs(run.id)]
    kept = stored[:-1]
    size = sum(len(line) for line in kept)
    assert size <= 1000 < size + len(f"line {len(kept)}")
    assert stored[-1].startswith(f"[deployctl: {1000 - len(kept)} more lines (")


class HeldStore:
    """The real store; ``append_logs`` waits for ``release``, heartbeats are counted."""

    def __init__(self, store: SqliteRunStore) -> None:
        self.store = store
        self.writing, self.release = threading.Event(), threading.Event()
        self.beats = 0
        self.counted = threading.Condition()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append_logs(self, run_id: str, lines: Sequence[tuple[str, str, str]]) -> None:
        self.writing.set()
        assert self.release.wait(120), "the test never released the log write"
        self.store.append_logs(run_id, lines)

    def heartbeat(self, *args: Any) -> None:
        self.store.heartbeat(*args)
        with self.counted:
            self.beats += 1
            self.counted.notify_all()

    def beats_reach(self, count: int, timeout: float) -> bool:
        with self.counted:
            return self.counted.wait_for(lambda: self.beats >= count, timeout)


def test_the_heartbeat_goes_on_while_the_loop_is_stuck_writing_a_chatty_flows_output(engine: Engine) -> None:
    opened: list[HeldStore] = []

    def open_store() -> HeldStore:  # serve opens the runner's store first, the heartbeat's second
        opened.append(HeldStore(SqliteRunStore(engine.store.path)))
        return opened[-1]

    config = RunnerConfig(
        engine.settings.home / "runs",
        log_limit=LogLimit(lines=0, bytes=0),
        log_queue=1000,
        log_batch=500,
        heartbeat_interval=0.05,
    )
    stop = threading.Event()
    settings = LoopSettings(open_store, read_artifact, False, config, poll_interval=0.05)
    loop = threading.Thread(target=serve, args=(settings, stop), daemon=True)
    run = create_run(engine.store, "chatty/chatty", {"n": 100_000}, now=NOW)
    before = peak_kib()
    loop.start()
    try:
        assert wait_for(lambda: len(opened) == 2)
        loop_store, beat_store = opened
        assert loop_store.writing.wait(60), "the flow's output never reached a log write"
        # the poll loop is stuck inside a log write until released; the heartbeat must not be
        assert beat_store.beats_reach(beat_store.beats + 3, 60), "no heartbeat while a log write hung"
        assert not loop_store.release.is_set()
    finally:
        for store in opened:
            store.release.set()
        finished = wait_for(lambda: engine.run(run.id).state_type.terminal)
        stop.set()
        loop.join(120)
    assert finished and not loop.is_alive()
    assert engine.run(run.id).state_type is StateType.COMPLETED, engine.run(run.id).state_message
    stored = engine.store.logs(run.id, limit=200_000)
    assert [line for *_, line in stored] == [f"line {i}" for i in range(100_000)]
    growth_mib = (peak_kib() - before) // 1024
    assert growth_mib < 50, f"a 1,000-line queue grew the runner's peak memory by {growth_mib} MiB"


class SlowStore:
    """The real store, each log write taking ``delay`` seconds: a registry slower than the flow."""

    def __init__(self, store: SqliteRunStore, delay: float) -> None:
        self.store, self.delay = store, delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append_logs(self, run_id: str, lines: Sequence[tuple[str, str, str]]) -> None:
        time.sleep(self.delay)
        self.store.append_logs(run_id, lines)


def test_an_ended_flows_last_lines_are_all_written_however_slow_the_registry(engine: Engine) -> None:
    """The flow has ended with 2,000 lines still in its pipe and the runner's full queue, and the
    registry takes 2 s to write them, 100 at a time: four times the output drain, which is meant
    for a child that holds the pipes, not for the runner's own slowness (the cause of the heartbeat
    test above losing 3,499 lines on a loaded machine)."""
    runner = engine.runner(log_queue=100, log_batch=100, output_drain=0.5)
    runner.store = SlowStore(runner.store, 0.1)  # type: ignore[assignment]
    run = create_run(engine.store, "chatty/chatty", {"n": 2000}, now=NOW)
    assert runner.tick(NOW) == [run.id]
    runner.running[run.id].popen.wait(timeout=60)  # its output is in the pipe and the queue now
    finish(runner, run.id, NOW + timedelta(seconds=1), timeout=120)
    assert engine.run(run.id).state_type is StateType.COMPLETED, engine.run(run.id).state_message
    assert [line for *_, line in engine.store.logs(run.id)] == [f"line {i}" for i in range(2000)]


def test_deployctl_runner_takes_the_log_limit_from_its_flag_as_people_run_it(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write({"f/flows.py": FLOWS, "f/chatty-deployment.yaml": manifest("chatty", "chatty")}).commit()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}, "HOME": str(tmp_path)}

    def deployctl(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "controller", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # a run's stderr lines, the marker among them, go to stderr
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout
        return done.stdout

    deployctl("sync", str(repo.root))
    run_id = deployctl("deployment", "run", "chatty/chatty", "--param", "n=20").split()[3]
    runner = subprocess.Popen(
        [sys.executable, "-m", "controller", "runner", "--poll", "0.2", "--max-log-lines", "5"],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        done = wait_for(lambda: '"Completed"' in deployctl("flow-run", "inspect", run_id))
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=60) == 0 and done
    finally:
        if runner.poll() is None:
            runner.kill()
    logs = deployctl("flow-run", "logs", run_id).splitlines()
    assert len(logs) == 6, logs
    assert [logs[i].endswith(f"stdout: line {i}") for i in range(5)] == [True] * 5, logs
    assert "[deployctl: 15 more lines (" in logs[5] and "log limit of 5 lines" in logs[5], logs
