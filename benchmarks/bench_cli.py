"""Start-up of the deployctl command against a bare interpreter, measured in the same run.

Run: python -m benchmarks.bench_cli [REPEATS]   (default 9; the median is printed)
Targets on a 2-core machine: ``deployctl --help`` <= 0.15 s over ``python -c pass``;
``deployctl deployment ls`` on a registry of 10 deployments <= 0.25 s over it.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_sync import git
from benchmarks.generate import write_repository


def command() -> list[str]:
    """The installed ``deployctl`` script beside this interpreter, as people run it."""
    script = Path(sys.executable).parent / "deployctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "controller"]


def median_seconds(argv: list[str], env: dict[str, str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(repeats: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": folder}
        root = home / "repo"
        write_repository(root, 10)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "ten deployments")
        deployctl = command()
        subprocess.run([*deployctl, "sync", str(root)], env=env, check=True, capture_output=True)
        base = median_seconds([sys.executable, "-c", "pass"], env, repeats)
        rows = [("python -c pass", base)]
        for label, args in (
            ("deployctl --help", ["--help"]),
            ("deployctl validate --help", ["validate", "--help"]),
            ("deployctl deployment ls (10)", ["deployment", "ls"]),
        ):
            rows.append((label, median_seconds([*deployctl, *args], env, repeats)))
    print(f"{'what':<30} {'seconds':>8} {'over python':>12}   ({os.path.basename(deployctl[0])})")
    for label, seconds in rows:
        print(f"{label:<30} {seconds:>8.3f} {seconds - base:>12.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
