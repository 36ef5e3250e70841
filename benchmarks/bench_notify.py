"""A pass with three notification receivers, one of them hung, against a pass with none.

Run: python -m benchmarks.bench_notify [N] [PASSES]   (default 200 deployments, 30 passes each)
Each pass applies a commit that changes one deployment (so each one sends an ``applied``
notice) on the embedded registry, in-process: ``reconcile_once`` then ``notify_pass``, as CI's
``sync`` and the controller loop run them. The receivers are HTTP servers on loopback; the hung
one holds every request until the end. Passes with and without receivers alternate, so that
the machine's load falls on both alike. Target: the median with receivers within 5 % of the
median without. The pass-to-pass noise of a shared machine is larger than that, so the
notifying part of each pass is also timed alone and shown as a share of the pass.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.generate import write_repository
from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.ports import Notifier, SourceSpec
from controller.runtime.controlling.policy import classify
from controller.services.feedback import notify_pass
from controller.settings import Settings
from tests.receivers import Receiver, serving

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}
SETTINGS = """receivers:
  - {{name: hung, type: webhook, url: "{hung}", secret_env: BENCH_HMAC_KEY}}
  - {{name: ops, type: webhook, url: "{ops}", secret_env: BENCH_HMAC_KEY}}
  - {{name: chat, type: slack, url: "{chat}"}}
drain_seconds: 0
"""


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, env=GIT_ENV, check=True, capture_output=True)


def change(root: Path, step: int) -> None:
    flow = root / "flows" / "d000" / "deployment-0" / "flow.py"
    flow.write_text(f"def run(n: int = {step}):\n    return n\n")
    git(root, "commit", "-q", "-am", f"change {step}")


def pass_timer(root: Path, home: Path) -> Callable[[Notifier], tuple[float, float]]:
    app = App(Settings.resolve(home=str(home), env={"HOME": str(home)}))
    reconciler = app.reconciler(SourceSpec(str(root)))
    reconciler.reconcile_once(SyncOptions())  # the cold sync is not what is measured

    def one(notifier: Notifier) -> tuple[float, float]:
        """The whole pass, and its notifying part alone."""
        started = time.perf_counter()
        result = reconciler.reconcile_once(SyncOptions())
        reconciled = time.perf_counter()
        notify_pass(notifier, result, classify(result).value)
        finished = time.perf_counter()
        return finished - started, finished - reconciled

    return one


def main(n: int, passes: int) -> None:
    os.environ["BENCH_HMAC_KEY"] = "bench-hmac-key-0123"
    with (
        tempfile.TemporaryDirectory() as tmp,
        serving(Receiver(hold=True)) as hung,
        serving(Receiver()) as ops,
        serving(Receiver()) as chat,
    ):
        root, home = Path(tmp) / "repo", Path(tmp) / "home"
        write_repository(root, n)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "initial")
        timer = pass_timer(root, home)
        none = App(Settings.resolve(home=str(home), env={"HOME": str(home)})).notifier()
        settings = SETTINGS.format(hung=hung.url, ops=ops.url, chat=chat.url)
        (home / "notifications.yaml").write_text(settings)
        three = App(Settings.resolve(home=str(home), env={"HOME": str(home)})).notifier()
        times: dict[str, list[tuple[float, float]]] = {"no receivers": [], "3 receivers, 1 hung": []}
        for step in range(passes):
            for label, notifier in (("no receivers", none), ("3 receivers, 1 hung", three)):
                change(root, 2 * step + (label != "no receivers") + 1000)
                times[label].append(timer(notifier))
        hung.release.set()
        three.close(5)
        delivered = (len(ops.requests), len(chat.requests))
    base = statistics.median(t for t, _ in times["no receivers"])
    print(f"{n} deployments, {passes} passes each, one changed deployment per pass (applied notices)")
    head = f"{'receivers':<22}{'median pass (s)':>16}{'p90 (s)':>10}{'vs none':>10}"
    print(head + f"{'notify (ms)':>13}{'of pass':>9}")
    for label, values in times.items():
        whole = [t for t, _ in values]
        notify = statistics.median(part for _, part in values)
        median, p90 = statistics.median(whole), statistics.quantiles(whole, n=10)[-1]
        print(
            f"{label:<22}{median:>16.3f}{p90:>10.3f}{(median / base - 1) * 100:>+9.1f}%"
            f"{notify * 1000:>13.2f}{notify / median * 100:>8.2f}%"
        )
    print(f"notices delivered to the two live receivers: {delivered[0]} and {delivered[1]} of {passes}")

if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200, int(sys.argv[2]) if len(sys.argv) > 2 else 30)
