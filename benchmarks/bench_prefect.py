"""deployctl against a real Prefect server, beside `prefect deploy --all` of the same prefect.yaml.

Run: python -m benchmarks.bench_prefect [N ...]   (default: 100 1000)
Needs a server and Prefect's CLI: DEPLOYCTL_TEST_PREFECT_API_URL and DEPLOYCTL_TEST_PREFECT_BIN,
as `.ci/prefect-server start` gives them. `prefect deploy` is timed at N <= 100 only (it takes
minutes at 1,000). Targets (issue #8): cold sync >= 10x faster than `prefect deploy --all`; no-op
0 writes and <= 1.5 s at N = 100; one changed exactly 1 deployment write and <= 2 s at N = 100;
peak memory at N = 1,000 <= 300 MB.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks.generate import write_repository
from controller.adapters.git_source import GitSource
from controller.adapters.registry.prefect_registry import PrefectRegistry, open_prefect_registry
from controller.adapters.storage import open_storage
from controller.engine.reconciler import Reconciler, SyncOptions
from controller.ports import SourceSpec

PREFECT_DEPLOY_MAX = 100


def project(root: Path, flow: str, pool: str, n: int, changed: int | None = None) -> None:
    """A prefect.yaml of ``n`` deployments of one flow, and the flow; ``changed``: one differs."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "flow.py").write_text(
        f"from prefect import flow\n\n\n@flow(name='{flow}')\ndef run(n: int = 1) -> int:\n    return n\n"
    )
    items = []
    for i in range(n):
        value = i + 1_000_000 if i == changed else i
        items.append(
            f"- name: d-{i}\n  entrypoint: flow.py:run\n  tags: [team-{i % 7}, bench]\n"
            f"  parameters: {{n: {value}}}\n  work_pool: {{name: {pool}}}\n"
            f"  schedules:\n  - cron: '{i % 60} * * * *'\n    timezone: Europe/Berlin\n"
        )
    pull = "pull:\n- prefect.deployments.steps.set_working_directory:\n    directory: /srv/flows\n"
    (root / "prefect.yaml").write_text(f"name: bench\n{pull}deployments:\n" + "".join(items))


def git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def prefect(bin_dir: Path, url: str, cwd: Path, *args: str) -> float:
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(cwd / ".prefect-home")}
    started = time.perf_counter()
    subprocess.run([str(bin_dir / "prefect"), *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def sync(
    url: str, repo: Path, home: Path, owner: str, full: bool = False, env: dict[str, str] | None = None
) -> tuple[float, PrefectRegistry]:
    registry = open_prefect_registry(f"prefect+{url}", env or {})
    reconciler = Reconciler(
        source=GitSource(SourceSpec(str(repo)), home / "cache", {}),
        registry=registry,
        store=open_storage(str(home / "storage")),
        env={},
    )
    started = time.perf_counter()
    result = reconciler.reconcile_once(SyncOptions(owner=owner, full=full))
    elapsed = time.perf_counter() - started
    assert result.ok, (result.error, dict(result.failures))
    return elapsed, registry


def deployment_writes(registry: PrefectRegistry) -> int:
    return sum(1 for _, path in registry.client.write_log if path.startswith("/deployments"))


def measure(url: str, bin_dir: Path, n: int, folder: Path) -> list[tuple[str, str, str]]:
    tag = uuid.uuid4().hex[:6]
    pool = f"bench-{tag}"
    prefect(bin_dir, url, folder, "work-pool", "create", pool, "--type", "process")
    rows = steady_state(url, n, folder / "folders", f"bench-{tag}")
    if n <= PREFECT_DEPLOY_MAX:
        rows += side_by_side(url, bin_dir, n, folder, tag, pool)
    return rows


def steady_state(url: str, n: int, repo: Path, owner: str) -> list[tuple[str, str, str]]:
    """One folder per deployment (Prefect 2 deployment.yaml files): a change to one folder
    changes one deployment's version, so exactly one deployment is written."""
    manifests = write_repository(repo, n)
    for path in manifests:  # flow names of this run only: the server keeps earlier runs' deployments
        path.write_text(path.read_text().replace("flow_name: flow-", f"flow_name: {owner}-flow-"))
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "generated")
    cold, registry = sync(url, repo, repo.parent / "home", owner)
    rows = [("deployctl cold sync", f"{cold:.2f} s", f"{registry.client.requests} requests")]
    noop, registry = sync(url, repo, repo.parent / "home-2", owner)
    rows.append(("deployctl no-op sync (new home)", f"{noop:.2f} s", f"{registry.client.writes} writes"))
    replan, registry = sync(url, repo, repo.parent / "home-3", owner, full=True)
    rows.append(("deployctl no-op, full re-plan", f"{replan:.2f} s", f"{registry.client.writes} writes"))
    middle = manifests[n // 2]
    middle.write_text(middle.read_text().replace("parameters:\n  n:", "parameters:\n  n: 1000000\n  m:"))
    commit(repo, "one changed")
    one, registry = sync(url, repo, repo.parent / "home", owner)
    rows.append(("deployctl one changed", f"{one:.2f} s", f"{deployment_writes(registry)} deployment writes"))
    return rows


def side_by_side(
    url: str, bin_dir: Path, n: int, folder: Path, tag: str, pool: str
) -> list[tuple[str, str, str]]:
    """The same prefect.yaml deployed by deployctl and by `prefect deploy --all` (other flow names)."""
    ours, theirs = folder / "ours", folder / "theirs"
    project(ours, f"ours-{tag}", pool, n)
    git(ours, "init", "-q", "-b", "main")
    commit(ours, "generated")
    cold, _ = sync(url, ours, folder / "home-ours", f"ours-{tag}")
    project(theirs, f"theirs-{tag}", pool, n)
    create = prefect(bin_dir, url, theirs, "--no-prompt", "deploy", "--all")
    again = prefect(bin_dir, url, theirs, "--no-prompt", "deploy", "--all")
    return [
        ("deployctl cold sync, prefect.yaml", f"{cold:.2f} s", ""),
        ("prefect deploy --all, create", f"{create:.2f} s", f"{create / cold:.1f}x deployctl's time"),
        ("prefect deploy --all, unchanged", f"{again:.2f} s", f"rewrites all {n}"),
    ]


def peak_memory(n: int) -> str:
    """Peak RSS of a process that made the N rows above (measured in a child process)."""
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"


def main() -> None:
    url = os.environ.get("DEPLOYCTL_TEST_PREFECT_API_URL")
    bin_dir = os.environ.get("DEPLOYCTL_TEST_PREFECT_BIN")
    if not url or not bin_dir:
        sys.exit("set DEPLOYCTL_TEST_PREFECT_API_URL and DEPLOYCTL_TEST_PREFECT_BIN (see .ci/prefect-server)")
    if sys.argv[1:2] == ["--child"]:
        n = int(sys.argv[2])
        with tempfile.TemporaryDirectory() as folder:
            rows = measure(url, Path(bin_dir), n, Path(folder))
        print(json.dumps([*rows, ("peak memory (whole process)", peak_memory(n), "")]))
        return
    print(f"{'N':>6}  {'measure':<34} {'value':>10}  note")
    for n in [int(a) for a in sys.argv[1:]] or [100, 1000]:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_prefect", "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        for name, value, note in json.loads(done.stdout):
            print(f"{n:>6}  {name:<34} {value:>10}  {note}")


if __name__ == "__main__":
    main()
