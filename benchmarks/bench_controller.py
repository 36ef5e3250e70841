"""The continuous controller: webhook latency, idle CPU and memory over many passes.

Run: python -m benchmarks.bench_controller [--idle-seconds S]   (default S = 300)
Targets on a 2-core machine: push -> applied through a signed webhook, 1,000 deployments, one
changed: median <= 2 s; idle CPU at a 60 s interval with 10,000 deployments <= 1 % of a core
over 5 min; resident memory after 1,000 passes minus after 10 <= 10 MB. The source is a bare
repository behind a file:// URL, so every pass really runs ls-remote and fetch.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchmarks.bench_sync import git
from benchmarks.generate import write_repository
from controller.adapters.git.remote_head import RemoteHead
from controller.adapters.sqlite.lease import SqliteOwnerControl
from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.runtime.controlling.loop import ControllerLoop, LoopConfig, LoopState
from controller.runtime.controlling.metrics import ControllerMetrics
from controller.runtime.controlling.policy import Timing
from controller.settings import Settings

SECRET = "bench-secret"


def published(folder: Path, count: int) -> tuple[Path, str]:
    work = folder / "work"
    write_repository(work, count)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "generated")
    bare = folder / "served.git"
    git(folder, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", str(bare))
    return work, f"file://{bare}"


def push_change(work: Path, step: int) -> str:
    (work / "flows" / "d000" / "deployment-0" / "flow.py").write_text(
        f"def run(n: int = {step}):\n    return n\n"
    )
    git(work, "commit", "-q", "-am", f"change {step}")
    git(work, "push", "-q", "origin", "HEAD:main")
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True
    ).stdout.strip()


def start(url: str, home: Path, interval: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "DEPLOYCTL_WEBHOOK_SECRET": SECRET}
    log = home.parent / "controller.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "--home", str(home), "controller", url,
         "--listen", "127.0.0.1:0", "--interval", interval],
        env=env, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )  # fmt: skip
    assert process.stdout is not None
    base = process.stdout.readline().strip().removeprefix("listening on ")
    if not base.startswith("http://"):
        raise RuntimeError(f"the controller did not start (exit {process.wait()}): {log.read_text()[-2000:]}")
    wait(lambda: status(base)["controller"].get("ready"), 600)
    return process, base


def status(base: str) -> dict[str, dict[str, object]]:
    with urllib.request.urlopen(base + "/api/status", timeout=10) as response:
        return dict(json.loads(response.read()))


def wait(check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the controller did not get there in time")
        time.sleep(0.01)


def webhook(base: str) -> None:
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}
    urllib.request.urlopen(urllib.request.Request(base + "/hooks/github", body, headers), timeout=10).read()


def webhook_latency(folder: Path, count: int = 1000, rounds: int = 7) -> list[float]:
    work, url = published(folder, count)
    process, base = start(url, folder / "home", "300")
    try:
        seconds = []
        for step in range(rounds):
            commit = push_change(work, step)
            started = time.perf_counter()
            webhook(base)
            wait(lambda c=commit: status(base)["controller"].get("applied_revision") == c, 60)  # type: ignore[misc]
            seconds.append(time.perf_counter() - started)
        return seconds
    finally:
        process.terminate()
        process.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(folder: Path, seconds: float, count: int = 10_000) -> float:
    _, url = published(folder, count)
    process, _ = start(url, folder / "home", "60")
    try:
        before, started = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)  # measuring idleness: there is nothing to wait for
        return (cpu_seconds(process.pid) - before) / (time.monotonic() - started) * 100
    finally:
        process.terminate()
        process.wait()


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_growth(folder: Path, count: int = 100) -> tuple[float, float]:
    """Resident MB after 10 and after 1,000 full (drift) passes of one loop, in process."""
    _, url = published(folder, count)
    settings = Settings.resolve(home=str(folder / "home"), env={})
    spec = SourceSpec(url)
    reconciler = App(settings).reconciler(spec)
    owner = reconciler.reconcile_once(SyncOptions()).owner
    control = SqliteOwnerControl(settings.home / "registry.db", owner, "bench")
    control.acquire()
    config = LoopConfig(SyncOptions(), Timing(interval=0.0, drift_interval=0.0))
    clock = iter(range(10**9))
    loop = ControllerLoop(
        LoopState(owner), RemoteHead(spec, settings.home), reconciler, _Always(), control, config,
        ControllerMetrics(), lambda: float(next(clock)), random.Random(1),
    )  # fmt: skip
    marks = {}
    while loop.state.passes < 1000:
        loop.step()
        if loop.state.passes in (10, 1000):
            marks[loop.state.passes] = resident_mb()
    return marks[10], marks[1000]


class _Always:
    def is_active(self) -> bool:
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=float, default=300.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        latencies = webhook_latency(Path(folder) / "latency")
        median = statistics.median(latencies)
        rows.append(("push -> applied (webhook), 1,000 deployments", f"{median:.2f} s median", "<= 2 s",
                     f"max {max(latencies):.2f} s"))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        percent = idle_cpu(Path(folder) / "idle", args.idle_seconds)
        rows.append(("idle CPU, 60 s interval, 10,000 deployments", f"{percent:.2f} % of a core", "<= 1 %",
                     f"over {args.idle_seconds:.0f} s"))  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        after_10, after_1000 = memory_growth(Path(folder) / "memory")
        rows.append(("memory, 1,000 passes vs 10", f"{after_1000 - after_10:+.1f} MB", "<= 10 MB",
                     f"{after_10:.0f} -> {after_1000:.0f} MB"))  # fmt: skip
    print(f"{'what':<48} {'measured':>20} {'target':>8}  detail")
    for what, measured, target, detail in rows:
        print(f"{what:<48} {measured:>20} {target:>8}  {detail}")


if __name__ == "__main__":
    main()
