"""Rollback of one owner on the embedded registry: whole fresh `deployctl` processes.

Run: python -m benchmarks.bench_rollback [N]   (default N = 1000)
A repository of N deployments (one folder each) at commit A; commit B changes every one of
them, commit C one of them; each is synced in turn. Then: roll back C -> B (one deployment
changes), roll back to A (all N change), release and sync the head again (all N change), and
read the history. Target (issue #22, 2-core machine): rollback of 1,000 deployments <= 2 s.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_sync import git
from benchmarks.generate import write_repository

TARGET = 2.0
OWNER = "bench"


def deployctl(home: Path, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds of one fresh deployctl process (CPU: what a machine shared with
    other work cannot inflate); fails loudly if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "controller", "--home", str(home), *args], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"deployctl {' '.join(args)} failed: {done.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return seconds, cpu


def commit_all(root: Path, manifests: list[Path], message: str) -> str:
    for path in manifests:
        path.write_text(path.read_text().replace("description: Generated", "description: Re-generated", 1))
    return commit(root, message)


def commit(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def measure(count: int) -> list[tuple[str, tuple[float, float], float | None]]:
    with tempfile.TemporaryDirectory() as tmp:
        root, home = Path(tmp) / "repo", Path(tmp) / "home"
        root.mkdir()
        git(root, "init", "-q", "-b", "main")
        manifests = write_repository(root, count)
        first = commit(root, "A")
        sync = ("sync", str(root), "--owner", OWNER)
        deployctl(home, *sync)
        second = commit_all(root, manifests, "B: every deployment changed")
        deployctl(home, *sync)
        one = manifests[0]
        one.write_text(one.read_text().replace("  n: 0\n", "  n: 1000000\n", 1))
        commit(root, "C: one deployment changed")
        deployctl(home, *sync)
        return [
            (f"rollback, 1 of {count:,} changed", deployctl(home, "rollback", OWNER, "--to", second), TARGET),
            (
                f"rollback, {count:,} of {count:,} changed",
                deployctl(home, "rollback", OWNER, "--to", first),
                TARGET,
            ),
            ("release", deployctl(home, "release", OWNER), None),
            (f"sync the head again, {count:,} changed", deployctl(home, *sync), None),
            ("history of the owner (json)", deployctl(home, "history", OWNER, "-o", "json"), None),
        ]


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rows = measure(count)
    print(f"{'what':<40} {'wall s':>8} {'cpu s':>8} {'target':>8}")
    for what, (seconds, cpu), target in rows:
        verdict = "" if target is None else ("  ok" if seconds <= target else "  OVER")
        shown = "-" if target is None else f"<= {target:.1f}"
        print(f"{what:<40} {seconds:>8.2f} {cpu:>8.2f} {shown:>8}{verdict}")


if __name__ == "__main__":
    main()
