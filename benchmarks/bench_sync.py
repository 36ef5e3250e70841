"""Sync throughput: cold, no-op, one changed, plan — in-process and as whole CLI calls — with a floor.

Run: python -m benchmarks.bench_sync [N ...]   (default N = 1000 10000; add 100000 for the big row)
Each N is a repository of N deployments: one folder each, plus one folder of 100 side by side.
Targets on a 2-core machine, whole fresh CLI calls: one changed of 10,000 <= 1.0 s; no-op of
10,000 <= 0.3 s; cold of 10,000 <= 2.5x the floor. 100,000: cold <= 5 min, one changed
<= 2 s, peak <= 2 GB. In-process rows (N <= 10,000): cold <= 2x the floor. The floor is a
bare C-loader parse of the same manifests plus one SQLite executemany of N rows.
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

from benchmarks.generate import manifest, write_repository

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
SHARED = 100  # deployments declared side by side in one folder
IN_PROCESS_UP_TO = 10_000

Row = tuple[str, float, float | None]


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True, capture_output=True)


def write_shared_folder(root: Path, first: int) -> list[Path]:
    """``SHARED`` manifests in one folder with one flow file: every one re-read when one changes."""
    folder = root / "flows" / "shared"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flow.py").write_text("def run(n: int = 1):\n    return n\n")
    paths = []
    for i in range(first, first + SHARED):
        path = folder / f"d{i}-deployment.yaml"
        path.write_text(manifest(i))
        paths.append(path)
    return paths


def change_one(root: Path, step: int) -> None:
    flow = root / "flows" / "d000" / "deployment-0" / "flow.py"
    flow.write_text(f"def run(n: int = {100 + step}):\n    return n\n")
    git(root, "commit", "-q", "-am", f"change {step}")


def change_one_shared(root: Path, first: int, step: int) -> None:
    path = root / "flows" / "shared" / f"d{first}-deployment.yaml"
    path.write_text(path.read_text().replace("  n: ", f"  n: {step}", 1))
    git(root, "commit", "-q", "-am", f"change shared {step}")


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


# A child reports as its peak at least the resident size of whoever forked it (Linux keeps
# the high-water mark across fork and exec), so a small launcher starts each deployctl.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss / 1024, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def cli(state: Path, *args: str) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one fresh deployctl process."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, "-m", "controller", "--home", str(state), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(done.stderr or "deployctl failed")
    seconds, megabytes = done.stderr.split()[-2:]
    return float(seconds), float(megabytes)


def in_process_rows(root: Path, home: Path) -> list[Row]:
    from controller.app import App
    from controller.engine.reconciler import SyncOptions
    from controller.ports import SourceSpec
    from controller.settings import Settings

    reconciler = App(Settings.resolve(home=str(home), env={})).reconciler(SourceSpec(str(root)))

    def sync() -> object:
        return reconciler.reconcile_once(SyncOptions())

    rows: list[Row] = [("in-process cold sync", timed(sync), None)]
    rows.append(("in-process no-op sync", timed(sync), None))
    change_one(root, 1)
    rows.append(("in-process one changed", timed(sync), None))
    change_one(root, 2)
    plan = timed(lambda: reconciler.reconcile_once(SyncOptions(dry_run=True)))
    rows.append(("in-process plan (1 changed)", plan, None))
    git(root, "reset", "-q", "--hard", "HEAD~2")
    return rows


def cli_rows(root: Path, state: Path, shared_first: int, full: bool) -> list[Row]:
    rows: list[Row] = []
    for label, args in (
        ("cli cold sync", ("sync",)),
        ("cli no-op sync", ("sync",)),
        ("cli plan (nothing to do)", ("plan",)),
    ):
        rows.append((label, *cli(state, *args, str(root))))
    change_one(root, 3)
    rows.append(("cli one changed", *cli(state, "sync", str(root))))
    change_one_shared(root, shared_first, 4)
    rows.append((f"cli one changed, folder of {SHARED}", *cli(state, "sync", str(root))))
    if full:  # a second cold-sized pass: only where it takes seconds
        change_one(root, 5)
        rows.append(("cli one changed, --full", *cli(state, "sync", "--full", str(root))))
    return rows


def run(n: int) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "repo"
        manifests = write_repository(root, n - SHARED) + write_shared_folder(root, n - SHARED)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "generated")
        rows: list[Row] = [("floor: parse + executemany", floor(manifests, Path(folder) / "floor.db"), None)]
        small = n <= IN_PROCESS_UP_TO
        if small:
            rows += in_process_rows(root, Path(folder) / "in-process")
        return rows + cli_rows(root, Path(folder) / "cli", n - SHARED, full=small)


def main(sizes: list[int]) -> None:
    print(f"{'N':>7} {'what':<34} {'seconds':>9} {'x floor':>8} {'peak MB':>8}")
    one_changed: dict[int, tuple[float, float | None]] = {}
    for n in sizes:
        results = run(n)
        base = results[0][1]
        for label, seconds, megabytes in results:
            peak = f"{megabytes:8.0f}" if megabytes is not None else f"{'':>8}"
            print(f"{n:>7} {label:<34} {seconds:>9.3f} {seconds / base:>8.2f} {peak}", flush=True)
            if label == "cli one changed":
                one_changed[n] = (seconds, megabytes)
    print("\none changed, whole CLI call:")
    print("  ".join(f"N={n}: {s:.3f} s ({m:.0f} MB)" for n, (s, m) in one_changed.items() if m))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
