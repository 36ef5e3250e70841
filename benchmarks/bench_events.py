"""Events and triggers on the embedded engine: event -> flow run latency, and ``event ls``.

Run: python -m benchmarks.bench_events [--rate 100] [--seconds 60] [--triggers 1000] [--stored 1000000] [--up]

1. A repository of 100 deployments with 10 Reactive triggers each (1,000 triggers, each on its
   own resource) is synced to an embedded registry. The event pump runs in a thread as in
   ``up``; the main thread stores ``--rate`` events a second for ``--seconds`` (as
   ``POST /api/events`` stores them), each matching one trigger. Latency: from storing the
   event to the run's ``created_at``, p50 and p99. Target: p50 <= 200 ms, p99 <= 1 s.
   With ``--up`` the same again with the pump inside a real ``deployctl up`` process (its work
   queue paused: runs are created, not run), and ``up``'s resident memory sampled each second.
2. ``--stored`` events over 10,000 resources in an events file; ``event ls`` of one resource
   (50 newest), in-process and as the ``deployctl`` command. Target: <= 100 ms.
Printed as a table. Real SQLite files in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.bench_notify import git
from controller.adapters.sqlite.events import SqliteEventStore
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.sqlite.state_feed import SqliteStateFeed
from controller.app import App
from controller.core.events import Event
from controller.core.runs import iso
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.runtime.events import EventPump
from controller.services.events import Events
from controller.settings import Settings

PER_DEPLOYMENT = 10


def write_repository(root: Path, triggers: int) -> None:
    root.mkdir(parents=True)
    for d in range(triggers // PER_DEPLOYMENT):
        folder = root / "flows" / f"d{d}"
        folder.mkdir(parents=True)
        (folder / "flow.py").write_text("def run(source='x'):\n    return source\n")
        items = "".join(
            f"- match: {{prefect.resource.id: bench.source.{d * PER_DEPLOYMENT + t}}}\n"
            f"  expect: [bench.tick]\n  parameters: {{source: '{{{{ event.resource.id }}}}'}}\n"
            for t in range(PER_DEPLOYMENT)
        )
        (folder / "deployment.yaml").write_text(
            f"name: d{d}\nflow_name: bench\nentrypoint: flow.py:run\ntriggers:\n{items}"
        )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "triggers")


def latency(root: Path, rate: float, seconds: float, triggers: int) -> dict[str, float]:
    write_repository(root / "repo", triggers)
    settings = Settings.resolve(home=str(root / "home"), env={})
    app = App(settings)
    result = app.reconciler(SourceSpec(str(root / "repo"))).reconcile_once(SyncOptions())
    assert result.ok, result.error
    registry = settings.home / "registry.db"
    pump = EventPump(
        SqliteStateFeed(registry), app.event_store(), SqliteRunStore(registry), app.event_settings()
    )
    stop = threading.Event()

    def pumping() -> None:
        while not stop.is_set():
            pump.tick()
            stop.wait(pump.settings.interval)

    pump.tick()
    thread = threading.Thread(target=pumping, daemon=True)
    thread.start()
    store = app.event_store()
    emitted: dict[str, float] = {}
    started = time.monotonic()
    count = int(rate * seconds)
    for i in range(count):
        due = started + i / rate
        time.sleep(max(0.0, due - time.monotonic()))
        event = Event(str(uuid.uuid4()), "bench.tick", iso(datetime.now(UTC)),
                      {"prefect.resource.id": f"bench.source.{i % triggers}"})  # fmt: skip
        store.add([event], event.occurred)
        emitted[event.id] = datetime.fromisoformat(event.occurred).timestamp()
    deadline = time.monotonic() + 30
    created = _created(registry)
    while len(created) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        created = _created(registry)
    stop.set()
    thread.join()
    delays = sorted(created[k] - emitted[k] for k in created if k in emitted)
    return {
        "events": count,
        "runs": len(created),
        "p50": statistics.median(delays) * 1000,
        "p99": delays[int(len(delays) * 0.99) - 1] * 1000 if delays else float("nan"),
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def latency_of_up(root: Path, rate: float, seconds: float, triggers: int) -> dict[str, float]:
    """The same, with the pump in a real ``up`` process (its work queue paused, so that the
    runs are created and not run); ``up``'s resident memory sampled every second."""
    from tests.up_process import running_up

    write_repository(root / "up-repo", triggers)
    home = root / "up-home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(home)}
    for args in (["sync", "../up-repo"], ["work-queue", "pause", "default"]):
        command = [str(Path(sys.executable).parent / "deployctl"), *args]
        subprocess.run(command, cwd=home, env=env, check=True, capture_output=True)
    registry = home / ".deployctl" / "registry.db"
    rss: list[float] = []
    with running_up(home, "../up-repo") as up:
        store = SqliteEventStore(home / ".deployctl" / "events.db")
        emitted: dict[str, float] = {}
        started = time.monotonic()
        count = int(rate * seconds)
        for i in range(count):
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
            event = Event(str(uuid.uuid4()), "bench.tick", iso(datetime.now(UTC)),
                          {"prefect.resource.id": f"bench.source.{i % triggers}"})  # fmt: skip
            store.add([event], event.occurred)
            emitted[event.id] = datetime.fromisoformat(event.occurred).timestamp()
            if i % int(rate) == 0:
                rss.append(_rss(up.pid))
        deadline = time.monotonic() + 30
        while len(created := _created(registry)) < count and time.monotonic() < deadline:
            time.sleep(0.2)
        rss.append(_rss(up.pid))
        store.close()
    delays = sorted(created[k] - emitted[k] for k in created if k in emitted)
    early = min(len(rss) - 1, 10)
    return {
        "events": count,
        "runs": len(created),
        "p50": statistics.median(delays) * 1000,
        "p99": delays[int(len(delays) * 0.99) - 1] * 1000 if delays else float("nan"),
        "rss_early": rss[early],
        "rss_end": rss[-1],
        "rss_max": max(rss),
    }


def _rss(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _created(registry: Path) -> dict[str, float]:
    with sqlite3.connect(registry) as db:
        rows = db.execute(
            "SELECT idempotency_key, created_at FROM flow_runs WHERE idempotency_key LIKE 'trigger %'"
        )
        return {key.rsplit(" ", 1)[1]: datetime.fromisoformat(at).timestamp() for key, at in rows}


def listing(root: Path, stored: int) -> dict[str, float]:
    home = root / "ls-home"
    store = SqliteEventStore(home / ".deployctl" / "events.db")
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    batch = 20_000
    for first in range(0, stored, batch):
        store.add(
            [
                Event(
                    str(uuid.UUID(int=i)),
                    f"bench.kind.{i % 5}",
                    iso(datetime.fromtimestamp(start + i, UTC)),
                    {"prefect.resource.id": f"bench.resource.{i % 10_000}"},
                    (),
                    {"n": i},
                )  # fmt: skip
                for i in range(first, min(stored, first + batch))
            ],
            iso(datetime.now(UTC)),
        )
    events = Events(store)
    timings = []
    for r in range(20):
        began = time.perf_counter()
        found = events.list_events(resource=f"bench.resource.{r * 37}")
        timings.append((time.perf_counter() - began) * 1000)
        assert len(found) == min(50, stored // 10_000)
    store.close()
    command = [
        str(Path(sys.executable).parent / "deployctl"),
        "event",
        "ls",
        "--resource",
        "bench.resource.42",
    ]
    began = time.perf_counter()
    subprocess.run(command, env={"HOME": str(home), "PATH": ""}, check=True, capture_output=True)
    process = (time.perf_counter() - began) * 1000
    return {"stored": stored, "median": statistics.median(timings), "max": max(timings), "process": process}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--stored", type=int, default=1_000_000)
    parser.add_argument("--up", action="store_true", help="also with the pump inside a real `up` process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        fired = latency(root, args.rate, args.seconds, args.triggers)
        served = latency_of_up(root, args.rate, args.seconds, args.triggers) if args.up else None
        listed = listing(root, args.stored)
    rows = [
        ("what", "measured", "target"),
        (f"event -> run created, {args.triggers} triggers, {args.rate:.0f}/s for {args.seconds:.0f} s: p50",
         f"{fired['p50']:.0f} ms", "<= 200 ms"),
        ("  p99", f"{fired['p99']:.0f} ms", "<= 1000 ms"),
        ("  runs created / events", f"{fired['runs']:.0f} / {fired['events']:.0f}", "equal"),
        ("  max RSS of the process (pump + emitter)", f"{fired['rss']:.0f} MB", "<= 300 MB"),
        *(
            [
                ("inside `deployctl up`: p50 / p99", f"{served['p50']:.0f} / {served['p99']:.0f} ms",
                 "200 / 1000 ms"),
                ("  runs created / events", f"{served['runs']:.0f} / {served['events']:.0f}", "equal"),
                ("  RSS of up: at 10 s / at the end / max",
                 f"{served['rss_early']:.0f} / {served['rss_end']:.0f} / {served['rss_max']:.0f} MB",
                 "<= 300 MB, flat"),
            ]
            if served
            else []
        ),
        (f"event ls of one resource among {listed['stored']:,.0f}: median (max of 20)",
         f"{listed['median']:.1f} ms ({listed['max']:.1f})", "<= 100 ms"),
        ("  as the deployctl command (process start included)", f"{listed['process']:.0f} ms", "-"),
    ]  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


if __name__ == "__main__":
    main()
