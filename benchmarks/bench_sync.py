"""Sync throughput: cold, no-op, one changed, plan — in-process and as CLI calls — with a floor.

Run: python -m benchmarks.bench_sync [N ...]   (default N = 1000 10000)
Targets on a 2-core machine at N = 10,000: cold sync <= 30 s; no-op pass <= 0.1 s in-process;
one changed <= 1 s in-process; peak memory <= 400 MB. The floor is a bare C-loader parse of
the same manifests plus one SQLite executemany of N rows.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from benchmarks.generate import write_repository
from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.settings import Settings

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True, capture_output=True)


def change_one(root: Path, step: int) -> None:
    flow = root / "flows" / "d000" / "deployment-0" / "flow.py"
    flow.write_text(f"def run(n: int = {100 + step}):\n    return n\n")
    git(root, "commit", "-q", "-am", f"change {step}")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def floor(manifests: list[Path], database: Path) -> float:
    started = time.perf_counter()
    rows = [(str(p), str(yaml.load(p.read_bytes(), Loader=yaml.CSafeLoader))) for p in manifests]  # noqa: S506
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, record TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", rows)
    return time.perf_counter() - started


def cli(state: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one deployctl process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "--home", str(state), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise RuntimeError(process.stderr.read().decode() if process.stderr else "deployctl failed")
    return elapsed, usage.ru_maxrss / 1024


def run(n: int) -> list[tuple[str, float, float | None]]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        manifests = write_repository(root, n)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "generated")
        base = floor(manifests, Path(folder) / "floor.db")
        rows: list[tuple[str, float, float | None]] = [("floor: parse + executemany", base, None)]

        settings = Settings.resolve(home=str(Path(folder) / "in-process"), env={})
        reconciler = App(settings).reconciler(SourceSpec(str(root)))
        rows.append(("in-process cold sync", timed(lambda: reconciler.reconcile_once(SyncOptions())), None))
        rows.append(("in-process no-op sync", timed(lambda: reconciler.reconcile_once(SyncOptions())), None))
        change_one(root, 1)
        rows.append(("in-process one changed", timed(lambda: reconciler.reconcile_once(SyncOptions())), None))
        change_one(root, 2)
        rows.append(
            (
                "in-process plan (1 changed)",
                timed(lambda: reconciler.reconcile_once(SyncOptions(dry_run=True))),
                None,
            )
        )

        state = Path(folder) / "cli"
        git(root, "reset", "-q", "--hard", "HEAD~2")
        for label, args in (
            ("cli cold sync", ("sync",)),
            ("cli no-op sync", ("sync",)),
            ("cli plan (nothing to do)", ("plan",)),
        ):
            seconds, megabytes = cli(state, *args, str(root))
            rows.append((label, seconds, megabytes))
        change_one(root, 3)
        seconds, megabytes = cli(state, "sync", str(root))
        rows.append(("cli one changed", seconds, megabytes))
        return rows


def main(sizes: list[int]) -> None:
    print(f"{'N':>7} {'what':<30} {'seconds':>9} {'x floor':>8} {'peak MB':>8}")
    for n in sizes:
        results = run(n)
        base = results[0][1]
        for label, seconds, megabytes in results:
            peak = f"{megabytes:8.0f}" if megabytes is not None else f"{'':>8}"
            print(f"{n:>7} {label:<30} {seconds:>9.3f} {seconds / base:>8.2f} {peak}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
