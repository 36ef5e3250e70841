"""The status pages: server time of each page and the size of the deployments page.

Run: python -m benchmarks.bench_ui [N] [--runs R] [--passes P] [--repeats K]
(default N = 10000, R = 100000, P = 10000, K = 30)
Targets on a 2-core machine (issue 22): each page's server time p95 <= 150 ms with 10,000
deployments, 100,000 runs and 10,000 passes; the deployments page, paged, <= 200 KB of HTML.
N hourly deployments are synced into an embedded registry, one scheduler pass fills their runs
ahead, and finished runs are added until there are R in all, one of them with 1,000 log lines;
P passes are added to the history as the engine records them (one at a time, each updating
three deployments, every tenth refused at a file and line). Each
page is answered in-process by what both servers call (``Pages.answer``): the time is the
server's own, without the network.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.bench_engine import synced
from controller.adapters.sqlite.registry import parse_sqlite_url
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.app import App
from controller.core.history import PassChange, PassOutcome, PassRecord, Trigger
from controller.core.runs import iso
from controller.ports import NewRun
from controller.runtime.scheduler import schedule_once
from controller.settings import Settings

P95_TARGET_MS = 150.0
SIZE_TARGET_KB = 200.0
REFUSAL = "flows/f0/prefect.yaml:12:9: schedules[0].schedule.cron: 'x' is not a valid cron expression"


def fill_runs(settings: Settings, total: int) -> str:
    """Runs ahead from one scheduler pass, finished runs up to ``total``; the id of one with logs."""
    store = SqliteRunStore(parse_sqlite_url(settings.registry_url))
    now = datetime.now(UTC)
    schedule_once(store, now)
    scheduled = store.count_by_state().get("SCHEDULED", 0)
    snapshots = {a.deployment_id: a for a in store.active_schedules()}
    ids = sorted(snapshots)
    past = [
        NewRun(
            ids[i % len(ids)],
            snapshots[ids[i % len(ids)]].flow_name,
            snapshots[ids[i % len(ids)]].snapshot,
            {},
            "default",
            iso(now - timedelta(minutes=i + 1)),
        )
        for i in range(max(0, total - scheduled))
    ]
    store.insert_runs(past, iso(now))
    store.close()
    with sqlite3.connect(parse_sqlite_url(settings.registry_url)) as db:  # finished, as a runner leaves them
        finished = "UPDATE flow_runs SET state_type = 'COMPLETED', state_name = 'Completed'"
        db.execute(finished + " WHERE expected_start_time < ?", (iso(now),))
        run_id = db.execute("SELECT id FROM flow_runs WHERE state_type = 'COMPLETED' LIMIT 1").fetchone()[0]
    store = SqliteRunStore(parse_sqlite_url(settings.registry_url))
    store.append_logs(run_id, [(iso(now), "stdout", f"line {i} of the flow's output") for i in range(1000)])
    store.close()
    return str(run_id)


def fill_passes(app: App, count: int, total: int) -> str:
    """``total`` passes of the synced owner, oldest first; the owner."""
    owner = app.registry().list_statuses()[0].owner
    history, now = app.history(), datetime.now(UTC)
    for n in range(total):
        refused = n % 10 == 9
        changes = () if refused else tuple(
            PassChange(f"flow-0/deployment-{(3 * n + k) % count}", "update", f"{n:040x}") for k in range(3)
        )  # fmt: skip
        record = PassRecord(
            owner,
            Trigger.WEBHOOK if n % 2 else Trigger.POLL,
            PassOutcome.REFUSED if refused else PassOutcome.APPLIED,
            iso(now - timedelta(seconds=total - n)),
            0.4,
            f"{n:040x}",
            counts={} if refused else {"update": 3},
            changes=changes,
            refusals=(REFUSAL,) if refused else (),
        )
        history.record_pass(record, keep=total + 1)
    return owner


def time_page(app: App, path: str, repeats: int) -> tuple[list[float], int, int]:
    pages = app.pages()
    times, size, status = [], 0, 0
    for _ in range(repeats):
        started = time.perf_counter()
        answer = pages.answer("GET", path, {}, loopback=True)
        times.append((time.perf_counter() - started) * 1000)
        size, status = len(answer.body), answer.status
    return times, size, status


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]


def main(count: int, runs: int, passes: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        _, settings = synced(Path(tmp), count)
        run_id = fill_runs(settings, runs)
        app = App(settings)
        owner = fill_passes(app, count, passes)
        took = time.perf_counter() - started
        print(f"set up {count} deployments, {runs} runs and {passes} passes in {took:.1f} s\n")
        pages = {
            "overview": "/",
            "deployments": "/deployments",
            "deployments, last page": f"/deployments?page={count // 50}",
            "deployments, searched": "/deployments?q=deployment-42",
            "one deployment": "/deployments/flow-0/deployment-0",
            "one run (1,000 log lines)": f"/runs/{run_id}",
            "passes": "/passes",
            "passes, one owner": f"/passes?owner={owner}",
            "passes, page 20": "/passes?page=20",
            "passes, last page": f"/passes?page={passes // 50 + 1}",
        }
        print(f"{'page':<28} {'status':>6} {'median ms':>10} {'p95 ms':>8} {'target':>8} {'HTML KB':>8}")
        for name, path in pages.items():
            times, size, status = time_page(app, path, repeats)
            verdict = "ok" if p95(times) <= P95_TARGET_MS else "OVER"
            print(
                f"{name:<28} {status:>6} {statistics.median(times):>10.1f} {p95(times):>8.1f} "
                f"{verdict:>8} {size / 1024:>8.1f}"
            )
        _, size, _ = time_page(app, "/deployments", 1)
        verdict = "ok" if size / 1024 <= SIZE_TARGET_KB else "OVER"
        print(f"\ndeployments page HTML: {size / 1024:.1f} KB (target <= {SIZE_TARGET_KB:.0f} KB: {verdict})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("count", nargs="?", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=30)
    arguments = parser.parse_args()
    main(arguments.count, arguments.runs, arguments.passes, arguments.repeats)
