"""Helpers for the Prefect backend tests: a reconciler wired as ``app.py`` wires it, a unique
owner per test, and Prefect's own CLI to read back what deployctl wrote."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from controller.adapters.git.source import GitSource
from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.registry import PrefectRegistry, open_prefect_registry
from controller.adapters.prefect.runs import PrefectRuns
from controller.adapters.storage import open_storage
from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult
from controller.ports import Registry, SourceSpec
from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer


def server_request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request made as a person or the UI makes it, straight to the server. A SQLite-backed
    server answers 503 while its own services hold the database lock: try again, as the UI does."""
    for _ in range(20):
        response = httpx.request(method, url, timeout=30, **kwargs)
        if response.status_code != 503:
            return response
        time.sleep(0.25)
    return response


DEFAULT_POOL_VARIABLE = "DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL"
SHARED_POOL = "deployctl-tests"


def shared_pool(server: PrefectServer) -> str:
    """A process pool every test may use, made once per server by Prefect's own CLI (so it has
    the job template a person's pool has, which the server checks job variables against)."""
    if server_request("GET", f"{server.api_url}/work_pools/{SHARED_POOL}").status_code == 404:
        created = prefect_cli(server, "work-pool", "create", SHARED_POOL, "--type", "process", check=False)
        assert created.returncode == 0 or "already exists" in created.stdout + created.stderr, created
    return SHARED_POOL


_JOB_TEMPLATES: dict[str, dict[str, Any]] = {}


def process_pool(server: PrefectServer, name: str, exist_ok: bool = False) -> str:
    """A process pool exactly as ``prefect work-pool create NAME --type process`` makes it (that
    command's job template, read from the shared pool it made), in one request instead of a
    start of Prefect's CLI each time (4 s of CPU, 15 s on a loaded CI machine)."""
    if server.api_url not in _JOB_TEMPLATES:
        made_by_the_cli = server_request("GET", f"{server.api_url}/work_pools/{shared_pool(server)}")
        _JOB_TEMPLATES[server.api_url] = made_by_the_cli.json()["base_job_template"]
    body = {"name": name, "type": "process", "base_job_template": _JOB_TEMPLATES[server.api_url]}
    created = server_request("POST", f"{server.api_url}/work_pools/", json=body)
    assert created.status_code == 201 or (exist_ok and created.status_code == 409), created.text
    return name


def unique(prefix: str) -> str:
    """Names no other test (or helper session) on the same server uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class PrefectSync:
    server: PrefectServer
    repo: GitRepo
    home: Path
    owner: str
    env: dict[str, str]
    location: str | None = None  # a URL to sync from instead of the repository's folder

    def registry(self) -> PrefectRegistry:
        """As a CI job opens it; a manifest that names no pool goes to the suite's pool, as a
        repository's ``prefect: {default_work_pool: ...}`` says (a test may set its own)."""
        env = {DEFAULT_POOL_VARIABLE: shared_pool(self.server), **self.env}
        return open_prefect_registry(f"prefect+{self.server.api_url}", env)

    def sync(self, registry: Registry | None = None, ref: str | None = None, **options: Any) -> SyncResult:
        registry = registry or self.registry()
        spec = SourceSpec(self.location or str(self.repo.root), ref)
        reconciler = Reconciler(
            source=GitSource(spec, self.home / "cache", self.env),
            registry=registry,
            store=open_storage(str(self.home / "storage")),
            env=self.env,
        )
        return reconciler.reconcile_once(SyncOptions(owner=self.owner, **options))

    def inspect(self, identity: str) -> dict[str, Any]:
        """``prefect deployment inspect FLOW/NAME -o json``, Prefect's own reading."""
        done = prefect_cli(self.server, "deployment", "inspect", identity, "-o", "json")
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed


@dataclass(frozen=True)
class WorkerRun:
    state_type: str
    output: str  # the run's own log lines, then the worker's output


def worker_pass(server: PrefectServer, pool: str, deployments: list[str], cwd: Path) -> list[WorkerRun]:
    """Create one flow run of each deployment the way `deployctl deployment run` does, and let one
    pass of ``prefect worker start --run-once`` (Prefect's own process worker) execute them all."""
    runs = PrefectRuns(PrefectClient(server.api_url))
    created = [runs.create(identity, tags=["e2e"]) for identity in deployments]
    env = {
        **os.environ,
        "PATH": f"{server.bin_dir}:{os.environ.get('PATH', '')}",  # the worker's own virtualenv
        "PREFECT_API_URL": server.api_url,
        "PREFECT_HOME": str(cwd / "prefect-home"),
    }
    worker = subprocess.run(
        [server.prefect, "worker", "start", "--pool", pool, "--type", "process", "--run-once"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    finished = []
    for run in created:
        final = runs.get(run.id)
        assert final.finished, f"{run.id} is still {final.state_type} after the worker's pass"
        logged = " ".join(message for _, _, message in runs.logs(run.id))
        finished.append(WorkerRun(final.state_type, f"{logged}\n{worker.stdout}"))
    return finished


def prefect_cli(
    server: PrefectServer, *args: str, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{server.bin_dir}:{os.environ.get('PATH', '')}",
        "PREFECT_API_URL": server.api_url,
        "PREFECT_HOME": os.environ.get("PREFECT_HOME", str(Path.home() / ".prefect")),
        "HOME": os.environ.get("HOME", "/"),
    }
    done = subprocess.run(
        [server.prefect, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )
    if check and done.returncode:
        raise AssertionError(f"prefect {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done


def flow_manifest(flow: str, name: str) -> dict[str, str]:
    """One deployment ``flow/name`` of a flow that does nothing, in the folder ``name``."""
    return {
        f"{name}/deployment.yaml": f"name: {name}\nflow_name: {flow}\nentrypoint: flow.py:run\n",
        f"{name}/flow.py": "def run():\n    pass\n",
    }


def sibling_branches(root: Path, flow: str) -> tuple[GitRepo, dict[str, str]]:
    """Branches ``a`` and ``b`` off ``main``: the deployment ``base`` plus ``only-a`` or
    ``only-b``; their commits by branch."""
    repo = GitRepo(root)
    repo.write(flow_manifest(flow, "base")).commit("base")
    commits = {}
    for branch in "ab":
        repo.git("checkout", "-q", "-b", branch, "main")
        commits[branch] = repo.write(flow_manifest(flow, f"only-{branch}")).commit(branch)
    return repo, commits
