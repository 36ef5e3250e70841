"""Loading + validation throughput against a floor of bare libyaml parsing.

Run: python -m benchmarks.bench_load [N ...]   (default N = 1000 10000)
Prints files/second for deployctl's `load_manifests` and for the floor (the same files read
and parsed by `yaml.load(..., CSafeLoader)` and nothing else), and the ratio. Target: ratio
<= 2 and 10,000 manifests in under 10 s on a 2-core machine.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.generate import write_repository
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree


def floor(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)  # noqa: S506
    return time.perf_counter() - started


def deployctl(root: Path, expected: int) -> float:
    started = time.perf_counter()
    result = load_manifests(DirectoryTree(root), env={})
    elapsed = time.perf_counter() - started
    assert result.ok and len(result.specs) == expected, result.diagnostics[:3]
    return elapsed


def best_of(runs: int, measure, *args) -> float:  # type: ignore[no-untyped-def]
    gc.collect()
    return min(measure(*args) for _ in range(runs))


def main(sizes: list[int]) -> None:
    print(f"{'N':>7} {'what':<28} {'seconds':>8} {'files/s':>9} {'ratio':>6}")
    for n in sizes:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            paths = write_repository(root, n)
            runs = 3 if n <= 1000 else 2
            base = best_of(runs, floor, paths)
            ours = best_of(runs, deployctl, root, n)
            print(f"{n:>7} {'floor: CSafeLoader only':<28} {base:>8.3f} {n / base:>9.0f} {1:>6.2f}")
            print(
                f"{n:>7} {'deployctl load + validate':<28} {ours:>8.3f} {n / ours:>9.0f} {ours / base:>6.2f}"
            )


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [1000, 10000])
