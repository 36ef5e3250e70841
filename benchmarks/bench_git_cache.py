"""Concurrent users of one git cache: 4 `deployctl plan` processes at once on one cold cache.

Run: python -m benchmarks.bench_git_cache [--trials N]   (default N = 40)
Target (issue 26): 0 failures in 40 trials. Each trial starts from an empty HOME, so the four
race to clone; the source is a bare repository behind a file:// URL (a real clone and fetch).
Issue 26 measured 9 of 40 trials failing before the cache had a lock.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_controller import published

CONCURRENT = 4


def trial(url: str, home: Path) -> list[str]:
    """The errors of ``CONCURRENT`` plans started together on the cold cache under ``home``."""
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(home)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "controller", "plan", url],
            cwd=home,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(CONCURRENT)
    ]
    errors = []
    for process in processes:
        out, err = process.communicate()
        if process.returncode not in (0, 1) or "cloned it again" in out + err:  # 1: changes pending
            errors.append((err or out).strip().splitlines()[-1] if (err or out).strip() else "no output")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        _, url = published(Path(folder), 20)
        started, failed, errors = time.monotonic(), 0, set()
        for number in range(args.trials):
            failures = trial(url, Path(folder) / f"home-{number}")
            failed += bool(failures)
            errors.update(failures)
        elapsed = time.monotonic() - started
    print(f"{'what':<48} {'measured':>20} {'target':>8}  detail")
    what = f"{CONCURRENT} concurrent plans, one cold cache"
    print(f"{what:<48} {f'{failed} of {args.trials} failed':>20} {'0':>8}  {elapsed:.0f} s in all")
    for error in sorted(errors):
        print(f"  {error}")


if __name__ == "__main__":
    main()
