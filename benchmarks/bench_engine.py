"""The standalone engine: scheduler passes, runner latency and throughput, memory of `up`.

Run: python -m benchmarks.bench_engine [N] [--chatty-seconds S] [--chatty-only]
(default N = 10000, S = 40)
Targets on a 2-core machine: a steady scheduler tick over 10,000 hourly deployments <= 1 s;
median time from a run's due time to its process start <= 1 s at the default poll (1 s);
throughput of trivial runs with concurrency 4; peak memory of `deployctl up` with 10,000
deployments <= 500 MB; a flow printing 1,000,000 short lines in 40 s: runner peak RSS
<= 150 MB, heartbeat gaps <= 5 s, a run alongside it (and a second runner watching for
silent runners) unaffected (issue 26).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_sync import git
from benchmarks.generate import write_repository
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.storage import read_artifact
from controller.app import App
from controller.core.runs import FlowRun, iso
from controller.engine.reconciler import SyncOptions
from controller.ports import NewRun, SourceSpec
from controller.runtime.ad_hoc import create_run
from controller.runtime.loops import LoopSettings, serve
from controller.runtime.runner import RunnerConfig
from controller.runtime.scheduler import schedule_once
from controller.settings import Settings


def synced(folder: Path, n: int) -> tuple[Path, Settings]:
    root = folder / "repo"
    write_repository(root, n, hourly=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "generated")
    settings = Settings.resolve(home=str(folder / "state"), env={})
    assert App(settings).reconciler(SourceSpec(str(root))).reconcile_once(SyncOptions()).ok
    return root, settings


def scheduler_rows(store: SqliteRunStore) -> list[tuple[str, float, str]]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    first = schedule_once(store, now)
    fill = time.perf_counter() - started
    started = time.perf_counter()
    steady = schedule_once(store, now + timedelta(seconds=10))
    tick = time.perf_counter() - started
    return [
        ("scheduler first fill", fill, f"{first.created} runs for {first.schedules} schedules"),
        ("scheduler steady tick", tick, f"{steady.created} runs created"),
    ]


def runner_rows(store: SqliteRunStore, settings: Settings, database: Path) -> list[tuple[str, float, str]]:
    digest, flow, queue, _ = store.deployment_snapshot("flow-0/deployment-0")  # type: ignore[misc]
    with store._write() as db:  # benchmark set-up: only these runs are due
        db.execute("DELETE FROM flow_runs")
    stop = threading.Event()
    config = RunnerConfig(settings.home / "runs", limit=4)
    loop = threading.Thread(
        target=serve,
        args=(LoopSettings(lambda: SqliteRunStore(database), read_artifact, False, config), stop),
    )
    loop.start()
    base = datetime.now(UTC) + timedelta(seconds=2)
    latency_runs = [
        NewRun("flow-0/deployment-0", flow, digest, {"n": i}, queue, iso(base + timedelta(seconds=i * 0.37)))
        for i in range(20)
    ]
    store.insert_runs(latency_runs, iso(datetime.now(UTC)))
    _wait_all_finished(store, 20)
    delays = [
        (datetime.fromisoformat(r.start_time) - datetime.fromisoformat(r.expected_start_time)).total_seconds()
        for r in store.list_runs(limit=100)
        if r.start_time
    ]
    burst = [
        NewRun("flow-0/deployment-0", flow, digest, {"n": i}, queue, iso(datetime.now(UTC)))
        for i in range(60)
    ]
    started = time.perf_counter()
    store.insert_runs(burst, iso(datetime.now(UTC)))
    _wait_all_finished(store, 80)
    elapsed = time.perf_counter() - started
    stop.set()
    loop.join()
    return [
        (
            "due -> process start, median",
            statistics.median(delays),
            f"p90 {statistics.quantiles(delays, n=10)[-1]:.2f} s over {len(delays)} runs",
        ),
        ("trivial runs, concurrency 4", elapsed, f"{60 / elapsed * 60:.0f} runs/minute"),
    ]


def _wait_all_finished(store: SqliteRunStore, count: int) -> None:
    deadline = time.monotonic() + 600
    while sum(r.state_type.terminal for r in store.list_runs(limit=count)) < count:
        assert time.monotonic() < deadline, "runs did not finish"
        time.sleep(0.2)


def up_memory(root: Path, folder: Path) -> tuple[str, float, str]:
    state = folder / "up-state"
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "--home", str(state), "up", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    started = time.perf_counter()
    for line in process.stderr:
        if "runs created" in line:
            break
    elapsed = time.perf_counter() - started
    process.send_signal(signal.SIGTERM)
    _, _, usage = os.wait4(process.pid, 0)
    return ("deployctl up: sync + first fill", elapsed, f"peak {usage.ru_maxrss / 1024:.0f} MB")


CHATTY_FLOWS = """
import time

def chatty(lines=1000000, seconds=40.0):
    per_tick = max(1, int(lines / (seconds * 100)))
    start, i = time.monotonic(), 0
    while i < lines:
        for _ in range(min(per_tick, lines - i)):
            print(f"line {i}")
            i += 1
        delay = start + seconds * i / lines - time.monotonic()
        if delay > 0:
            time.sleep(delay)

def steady(seconds=40.0):
    for i in range(int(seconds * 2)):
        print(f"tick {i}", flush=True)
        time.sleep(0.5)
"""


def chatty_rows(
    folder: Path, seconds: float, unlimited: bool = False, lines: int = 1_000_000
) -> list[tuple[str, float, str]]:
    """A flow printing ``lines`` short lines over ``seconds``, a steady flow beside it on one
    ``deployctl runner``, and a second runner (another queue) that would crash both runs if the
    first one's heartbeat went silent for 20 s. ``unlimited``: no per-run log limit, so every
    line goes through the bounded queue into the registry."""
    folder = folder / ("chatty-unlimited" if unlimited else "chatty")
    root = folder / "chatty-repo"
    (root / "f").mkdir(parents=True)
    (root / "f" / "flows.py").write_text(CHATTY_FLOWS)
    for name in ("chatty", "steady"):
        (root / "f" / f"{name}-deployment.yaml").write_text(
            f"name: {name}\nflow_name: {name}\nentrypoint: flows.py:{name}\nwork_queue_name: default\n"
        )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "chatty")
    settings = Settings.resolve(home=str(folder / "chatty-state"), env={})
    assert App(settings).reconciler(SourceSpec(str(root))).reconcile_once(SyncOptions()).ok
    database = settings.home / "registry.db"
    store = SqliteRunStore(database)
    chatty = create_run(store, "chatty/chatty", {"lines": lines, "seconds": seconds})
    steady = create_run(store, "steady/steady", {"seconds": seconds})
    command = [sys.executable, "-m", "controller", "--home", str(settings.home), "runner"]
    limits = ["--max-log-lines", "0", "--max-log-bytes", "0"] if unlimited else []
    runner = subprocess.Popen(command + limits, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = subprocess.Popen(
        [*command, "--queue", "elsewhere"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    beats: list[float] = []
    deadline = time.monotonic() + seconds * 4 + 120
    reader = sqlite3.connect(database, timeout=30)
    try:
        while not all(store.get(r.id).state_type.terminal for r in (chatty, steady)):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the runs did not finish"
            row = reader.execute("SELECT heartbeat_at FROM runners WHERE pid = ?", (runner.pid,)).fetchone()
            if row and (not beats or datetime.fromisoformat(row[0]).timestamp() != beats[-1]):
                beats.append(datetime.fromisoformat(row[0]).timestamp())
            time.sleep(0.1)
        peak = _peak_rss_mb(runner.pid)
    finally:
        for process in (runner, watcher):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        reader.close()
    gaps = [later - earlier for earlier, later in zip(beats, beats[1:], strict=False)]
    chatty_run, steady_run = store.get(chatty.id), store.get(steady.id)
    assert chatty_run is not None and steady_run is not None
    stored = store.logs(chatty.id, limit=10_000_000)
    steady_lines = len(store.logs(steady.id))
    size = sum(f.stat().st_size for f in settings.home.glob("registry.db*")) / 2**20
    took = _duration(steady_run)
    return [
        (
            f"chatty flow: {lines:,} lines in {seconds:g} s" + (", no limit" if unlimited else ""),
            _duration(chatty_run),
            (
                f"{chatty_run.state_name}; runner peak RSS {peak:.0f} MB; heartbeat max gap "
                f"{max(gaps, default=0):.1f} s over {len(beats)} beats; {len(stored):,} lines stored, "
                f"last: {stored[-1][3][:60]}...; registry {size:.0f} MB"
            ),
        ),
        (
            "  the run beside it",
            took,
            (
                f"{steady_run.state_name}; {steady_lines} of {int(seconds * 2)} lines; "
                f"took {took:.1f} s for {seconds:g} s of work"
            ),
        ),
    ]


def _duration(run: FlowRun) -> float:
    return (
        datetime.fromisoformat(run.end_time or "") - datetime.fromisoformat(run.start_time or "")
    ).total_seconds()


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(n: int, chatty_seconds: float, chatty_only: bool, unlimited: bool) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        rows = []
        if not chatty_only:
            root, settings = synced(folder, n)
            database = settings.home / "registry.db"
            store = SqliteRunStore(database)
            rows = scheduler_rows(store) + runner_rows(store, settings, database) + [up_memory(root, folder)]
        rows += chatty_rows(folder, chatty_seconds)
        if unlimited:
            rows += chatty_rows(folder, chatty_seconds, unlimited=True)
    print(f"{'N':>6} {'what':<40} {'seconds':>8}  detail")
    for label, seconds, detail in rows:
        print(f"{n:>6} {label:<40} {seconds:>8.3f}  {detail}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_engine")
    parser.add_argument("n", nargs="?", type=int, default=10_000, help="deployments [10000]")
    parser.add_argument("--chatty-seconds", type=float, default=40.0, help="the chatty flow's duration [40]")
    parser.add_argument("--chatty-only", action="store_true", help="only the chatty-flow rows")
    parser.add_argument(
        "--chatty-unlimited", action="store_true", help="also the chatty flow with no per-run log limit"
    )
    arguments = parser.parse_args()
    main(arguments.n, arguments.chatty_seconds, arguments.chatty_only, arguments.chatty_unlimited)
