"""deployctl against a real Prefect server: the raw-API floor, `prefect deploy --all`, and
deployctl's cold, no-op and one-changed syncs, in one run against one server.

Run: python -m benchmarks.bench_prefect [N ...] [--prefect-deploy-max M]   (default N: 100 1000)
Needs a server and Prefect's CLI: DEPLOYCTL_TEST_PREFECT_API_URL and DEPLOYCTL_TEST_PREFECT_BIN,
as `.ci/prefect-server start` gives them. `prefect deploy --all` is timed only at N <= M
(default 100: it takes minutes at 1,000).

The floor is the server's own cost of the creates: the bodies deployctl sends for the same
prefect.yaml, POSTed by a bare httpx loop, one request at a time (3.9.1 has no bulk create),
once before and once after deployctl's cold sync (the mean is the floor).
Targets (issue 19): cold sync <= 1.25x the floor and >= 3x faster than `prefect deploy --all`;
no-op 0 writes, >= 20x faster than an unchanged `prefect deploy --all`, <= 0.3 s at N = 1,000;
one changed (in one shared prefect.yaml, and in one folder each) exactly 1 write, <= 0.5 s
at N = 1,000.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from benchmarks.generate import write_repository
from controller.adapters.git.source import GitSource
from controller.adapters.prefect.registry import PrefectRegistry, open_prefect_registry
from controller.adapters.prefect.translate import CodeSource, Stamp, to_api
from controller.adapters.storage import open_storage
from controller.engine.reconciler import Reconciler, SyncOptions
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from controller.ports import SourceSpec

PREFECT_DEPLOY_MAX = 100
Row = tuple[str, str, str]


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


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid"}
    env.update(GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@example.invalid")
    done = subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def prefect(bin_dir: Path, url: str, cwd: Path, *args: str) -> float:
    env = {**os.environ, "PREFECT_API_URL": url, "PREFECT_HOME": str(cwd / ".prefect-home")}
    started = time.perf_counter()
    subprocess.run([str(bin_dir / "prefect"), *args], cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


@dataclass(frozen=True)
class Pass:
    seconds: float
    requests: int
    writes: int  # deployment writes (POST, PATCH, DELETE of /deployments...)
    listed: int = 0  # deployments the pass listed from the server
    error: str | None = None  # a pass the server refused (a 503 storm): the next one retries

    def row(self, label: str, note: str) -> Row:
        failed = "" if self.error is None else f"; FAILED: {self.error[:80]}"
        read = f"; {self.requests} requests, {self.listed} deployments listed"
        return (label, f"{self.seconds:.2f} s", note + read + failed)


def sync(url: str, repo: Path, home: Path, owner: str, full: bool = False) -> Pass:
    """One timed pass; a failed one is retried (untimed) until the registry converges, as the
    next CI run or the controller would, so the following measures start from applied state."""
    registry = open_prefect_registry(f"prefect+{url}", {})
    reconciler = Reconciler(
        source=GitSource(SourceSpec(str(repo)), home / "cache", {}),
        registry=registry,
        store=open_storage(str(home / "storage")),
        env={},
    )
    started = time.perf_counter()
    result = reconciler.reconcile_once(SyncOptions(owner=owner, full=full))
    elapsed = time.perf_counter() - started
    error = None if result.ok else str(result.error or dict(result.failures))
    for _ in range(5 if error else 0):
        if reconciler.reconcile_once(SyncOptions(owner=owner)).ok:
            break
    listed = registry.client.listed.get("/deployments/filter", 0)
    return Pass(elapsed, registry.client.requests, deployment_writes(registry), listed, error)


def deployment_writes(registry: PrefectRegistry) -> int:
    return sum(1 for _, path in registry.client.write_log if path.startswith("/deployments"))


def floor(url: str, repo: Path, flow: str) -> tuple[float, int]:
    """The bodies deployctl sends for ``repo``'s prefect.yaml, under another flow and owner,
    POSTed one at a time by a bare loop: the server's own cost of creating them."""
    head = git(repo, "rev-parse", "HEAD")
    load = load_manifests(DirectoryTree(repo), env={})
    stamp = Stamp(f"floor-{flow}", head, "")
    code = CodeSource("git", f"file://{repo}", "", "main")
    bodies = [to_api(replace(s, version=head[:12]), stamp, code) for s in load.specs.values()]
    retries = 0

    def post(client: httpx.Client, path: str, body: dict[str, object]) -> dict[str, object]:
        # A SQLite-backed server answers 503 while its own services hold the database lock:
        # every client must try again (deployctl's backs off the same way).
        nonlocal retries
        for attempt in range(20):
            response = client.post(path, json=body)
            if response.status_code != 503:
                return dict(response.raise_for_status().json())
            retries += 1
            time.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"{path}: 503 twenty times")

    with httpx.Client(base_url=url, timeout=60) as client:
        started = time.perf_counter()
        flow_id = post(client, "/flows/", {"name": flow})["id"]
        for body in bodies:
            post(client, "/deployments/", {**body, "flow_id": flow_id})
        return time.perf_counter() - started, retries


def server_count(url: str) -> int:
    return int(httpx.post(f"{url}/deployments/count", json={}, timeout=60).raise_for_status().json())


def measure(url: str, bin_dir: Path, n: int, folder: Path, prefect_deploy_max: int) -> Iterator[Row]:
    """The rows of one N, each as soon as it is measured."""
    tag = uuid.uuid4().hex[:6]
    pool = f"bench-{tag}"
    prefect(bin_dir, url, folder, "work-pool", "create", pool, "--type", "process")
    shared = folder / "shared"
    project(shared, f"shared-{tag}", pool, n)
    git(shared, "init", "-q", "-b", "main")
    commit(shared, "generated")
    yield ("deployments on the server", str(server_count(url)), "before this N")
    # The floor before and after deployctl's cold sync: whoever writes second meets the
    # server's scheduler still making runs for the first one's deployments.
    before, retries = floor(url, shared, f"floor-{tag}")
    owner = f"shared-{tag}"
    cold = sync(url, shared, folder / "home", owner)
    after, more_retries = floor(url, shared, f"floor2-{tag}")
    raw = (before + after) / 2
    note = f"mean of {before:.2f} s before, {after:.2f} s after; {retries + more_retries} retried after a 503"
    yield ("raw-API floor (httpx loop)", f"{raw:.2f} s", note)
    yield cold.row("deployctl cold sync", f"{cold.seconds / raw:.2f}x floor (<= 1.25x)")
    fresh = sync(url, shared, folder / "home-2", owner)
    yield fresh.row("no-op sync (new home)", f"{fresh.writes} writes (0)")
    full = sync(url, shared, folder / "home-3", owner, full=True)
    yield full.row("no-op sync, --full re-plan", f"{full.writes} writes (0)")
    project(shared, f"shared-{tag}", pool, n, changed=n // 2)
    commit(shared, "one changed")
    one = sync(url, shared, folder / "home", owner)
    yield one.row("one changed, shared prefect.yaml", f"{one.writes} writes (1)")
    one = one_changed_in_its_folder(url, n, folder / "folders", pool, f"folders-{tag}")
    yield one.row("one changed, one folder each", f"{one.writes} writes (1)")
    if n <= prefect_deploy_max:
        yield from side_by_side(url, bin_dir, n, folder / "theirs", tag, pool, cold, fresh)


def one_changed_in_its_folder(url: str, n: int, repo: Path, pool: str, owner: str) -> Pass:
    """One folder per deployment (Prefect 2 deployment.yaml files): one folder changes."""
    manifests = write_repository(repo, n)
    for path in manifests:  # flow names of this run only: the server keeps earlier runs' deployments
        text = path.read_text().replace("flow_name: flow-", f"flow_name: {owner}-flow-")
        path.write_text(text.replace("work_pool_name: null", f"work_pool_name: {pool}"))
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "generated")
    sync(url, repo, repo.parent / "home-folders", owner)
    middle = manifests[n // 2]
    middle.write_text(middle.read_text().replace("parameters:\n  n:", "parameters:\n  n: 1000000\n  m:"))
    commit(repo, "one changed")
    return sync(url, repo, repo.parent / "home-folders", owner)


def side_by_side(
    url: str, bin_dir: Path, n: int, theirs: Path, tag: str, pool: str, cold: Pass, noop: Pass
) -> list[Row]:
    """The same prefect.yaml deployed by `prefect deploy --all` (another flow name)."""
    project(theirs, f"theirs-{tag}", pool, n)
    try:
        create = prefect(bin_dir, url, theirs, "--no-prompt", "deploy", "--all")
        again = prefect(bin_dir, url, theirs, "--no-prompt", "deploy", "--all")
    except subprocess.CalledProcessError as exc:  # a saturated server's 503: the next N still runs
        return [("prefect deploy --all", "failed", f"exit {exc.returncode}: {exc.stderr[-80:]!r}")]
    return [
        ("prefect deploy --all, cold", f"{create:.2f} s", f"{create / cold.seconds:.1f}x deployctl (>= 3x)"),
        (
            "prefect deploy --all, unchanged",
            f"{again:.2f} s",
            f"rewrites all {n}; {again / noop.seconds:.0f}x deployctl no-op (>= 20x)",
        ),
    ]


def peak_memory() -> str:
    """Peak RSS of the child process that made the rows above."""
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"


def main() -> None:
    url = os.environ.get("DEPLOYCTL_TEST_PREFECT_API_URL")
    bin_dir = os.environ.get("DEPLOYCTL_TEST_PREFECT_BIN")
    if not url or not bin_dir:
        sys.exit("set DEPLOYCTL_TEST_PREFECT_API_URL and DEPLOYCTL_TEST_PREFECT_BIN (see .ci/prefect-server)")
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_prefect")
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000])
    parser.add_argument("--prefect-deploy-max", type=int, default=PREFECT_DEPLOY_MAX)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as folder:
            for row in measure(url, Path(bin_dir), args.sizes[0], Path(folder), args.prefect_deploy_max):
                print(json.dumps(row), flush=True)
        print(json.dumps(("peak memory (whole process)", peak_memory(), "")), flush=True)
        return
    print(f"{'N':>6}  {'measure':<34} {'value':>10}  note (target)")
    for n in args.sizes:
        command = [sys.executable, "-m", "benchmarks.bench_prefect", "--child", str(n)]
        command += ["--prefect-deploy-max", str(args.prefect_deploy_max)]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
            assert child.stdout is not None and child.stderr is not None
            for line in child.stdout:  # each row as it is measured: an N = 1,000 run takes minutes
                name, value, note = json.loads(line)
                print(f"{n:>6}  {name:<34} {value:>10}  {note}", flush=True)
            problem = child.stderr.read()
        if child.returncode:
            sys.exit(f"N={n} failed:\n{problem}")


if __name__ == "__main__":
    main()
