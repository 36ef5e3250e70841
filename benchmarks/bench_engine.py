"""The standalone engine: scheduler passes, runner latency and throughput, memory of `up`.

Run: python -m benchmarks.bench_engine [N]   (default N = 10000)
Targets on a 2-core machine: a steady scheduler tick over 10,000 hourly deployments <= 1 s;
median time from a run's due time to its process start <= 1 s at the default poll (1 s);
throughput of trivial runs with concurrency 4; peak memory of `deployctl up` with 10,000
deployments <= 500 MB.
"""

from __future__ import annotations

import os
import signal
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
from controller.adapters.registry.sqlite_runs import SqliteRunStore
from controller.app import App
from controller.core.runs import iso
from controller.engine.reconciler import SyncOptions
from controller.ports import NewRun, SourceSpec
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
    loop = threading.Thread(target=serve, args=(LoopSettings(database, False, config), stop))
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


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        root, settings = synced(folder, n)
        database = settings.home / "registry.db"
        store = SqliteRunStore(database)
        rows = scheduler_rows(store) + runner_rows(store, settings, database) + [up_memory(root, folder)]
    print(f"{'N':>6} {'what':<34} {'seconds':>8}  detail")
    for label, seconds, detail in rows:
        print(f"{n:>6} {label:<34} {seconds:>8.3f}  {detail}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
