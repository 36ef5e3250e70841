"""A backend is one line of ``app.BACKENDS``: a toy third backend, registered there alone, is
what ``plan``, ``sync``, ``deployment ls``, ``status`` and ``suspend`` talk to, with its own
capabilities (any infrastructure, triggers fired, no engine of deployctl's).

The toy keeps its deployments in a SQLite file through the embedded registry's class (the
registry port is not what this test is about) but has its own owner control, kept in memory,
and neither a run store nor remote runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller import app as wiring
from controller.adapters.sqlite.registry import SqliteRegistry
from controller.core.history import Hold, PassRecord
from controller.ports import (
    Capabilities,
    EngineRuns,
    HistoryStore,
    HoldStore,
    OwnerControl,
    Registry,
    RunStore,
)
from tests.cli_helpers import invoke, one_clear_line
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parents[1]
SUSPENDED: dict[str, bool] = {}


class ToyControl:
    def __init__(self, owner: str) -> None:
        self.owner = owner

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass

    def suspended(self) -> bool:
        return SUSPENDED.get(self.owner, False)

    def set_suspended(self, suspended: bool) -> None:
        SUSPENDED[self.owner] = suspended

    def refresh_requests(self) -> int:
        return 0

    def request_refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


class ToyHistory:
    """Passes and holds, kept in memory like the toy's owner control."""

    passes: list[PassRecord] = []
    held: dict[str, Hold] = {}

    def record_pass(self, record: PassRecord, keep: int) -> None:
        self.passes.insert(0, record)

    def list_passes(
        self, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PassRecord]:
        return [p for p in self.passes if owner in (None, p.owner)][offset:][:limit]

    def passes_of(self, deployment: str, limit: int | None = None) -> list[PassRecord]:
        return [p for p in self.passes if any(c.deployment == deployment for c in p.changes)][:limit]

    def read_hold(self, owner: str) -> Hold | None:
        return self.held.get(owner)

    def set_hold(self, owner: str, hold: Hold | None) -> None:
        self.held.pop(owner, None) if hold is None else self.held.update({owner: hold})

    def close(self) -> None:
        pass


class ToyBackend:
    capabilities = Capabilities(
        supported_infrastructure=None, runs_triggers=True, variables_writable=True, runs_flows_here=False
    )

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(url.removeprefix("toy://"))

    def registry(self, create: bool = True) -> Registry:
        return SqliteRegistry(self.path, create)

    def owner_control(self, owner: str, holder: str, lease_seconds: float) -> OwnerControl:
        return ToyControl(owner)

    def run_store(self) -> RunStore | None:
        return None

    def engine_runs(self) -> EngineRuns | None:
        return None

    def history(self, create: bool = True) -> HistoryStore:
        return ToyHistory()

    def holds(self, create: bool = True) -> HoldStore:
        return ToyHistory()


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(wiring.BACKENDS, "toy", ToyBackend)


def test_a_toy_backend_registered_in_the_table_alone_serves_every_command(tmp_path: Path, toy: None) -> None:
    root = tmp_path / "sample"
    shutil.copytree(ROOT / "sample-repo", root)
    repo = GitRepo(root)
    repo.write(
        {"flows/docker/deployment.yaml": DOCKER_DEPLOYMENT, "flows/docker/flow.py": "def run():\n    pass\n"}
    )
    commit = repo.commit("the sample, and a deployment on docker")
    home, url = tmp_path / "home", f"toy://{tmp_path / 'toy.db'}"
    home.mkdir()

    plan = invoke(home, "--registry", url, "plan", str(root), "-o", "json")
    assert plan.exit_code == 1, plan.stdout + plan.stderr  # changes to make
    planned = json.loads(plan.stdout)
    # its capabilities, not the embedded registry's: docker is taken, and triggers fire there
    assert "docker/on-docker" in {c["deployment"] for c in planned["changes"]}
    assert "trigger-not-run" not in plan.stdout

    synced = invoke(home, "--registry", url, "sync", str(root))
    assert synced.exit_code == 0, synced.stdout + synced.stderr
    listed = invoke(home, "--registry", url, "deployment", "ls", "-o", "json")
    assert listed.exit_code == 0, listed.stderr
    names = {row["id"] for row in json.loads(listed.stdout)}
    assert "docker/on-docker" in names and len(names) == len(planned["changes"])

    status = invoke(home, "--registry", url, "status", "-o", "json")
    assert status.exit_code == 0, status.stderr
    (source,) = json.loads(status.stdout)
    assert source["last_applied_revision"] == commit
    assert (tmp_path / "toy.db").is_file() and not (home / ".deployctl" / "registry.db").exists()

    passes = invoke(home, "--registry", url, "history", "-o", "json")  # kept by the toy's own store
    assert [(p["revision"], p["outcome"]) for p in json.loads(passes.stdout)] == [(commit, "applied")]

    suspended = invoke(home, "--registry", url, "suspend", source["owner"])
    assert suspended.exit_code == 0, suspended.stderr
    assert {source["owner"]: True} == SUSPENDED

    # no engine of deployctl's and no remote runs: refused in one line, from data, not a branch
    assert "only with the embedded registry" in one_clear_line(
        invoke(home, "--registry", url, "deployment", "run", "docker/on-docker")
    )
    assert "only with the embedded registry" in one_clear_line(
        invoke(home, "--registry", url, "flow-run", "ls")
    )


class ReadOnlyVariablesToy(ToyBackend):
    capabilities = Capabilities(
        supported_infrastructure=None, runs_triggers=True, variables_writable=False, runs_flows_here=False
    )


def test_variables_are_written_only_where_the_capabilities_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The toy's registry could store a variable (it is the embedded registry's class): the
    refusal comes from ``variables_writable``, asked before anything is written."""
    monkeypatch.setitem(wiring.BACKENDS, "toy", ReadOnlyVariablesToy)
    url = f"toy://{tmp_path / 'toy.db'}"
    SqliteRegistry(tmp_path / "toy.db", True).set_variable("region", "eu-west")
    assert invoke(tmp_path, "--registry", url, "variable", "get", "region").stdout == "eu-west\n"
    for args in (("set", "region", "us-east"), ("unset", "region")):
        line = one_clear_line(invoke(tmp_path, "--registry", url, "variable", *args))
        assert f"variables of {tmp_path / 'toy.db'} are managed by the server" in line, line
    assert SqliteRegistry(tmp_path / "toy.db", False).read_variables() == {"region": "eu-west"}

    monkeypatch.setitem(wiring.BACKENDS, "toy", ToyBackend)  # the same file, writable
    assert invoke(tmp_path, "--registry", url, "variable", "set", "region", "us-east").exit_code == 0
    assert SqliteRegistry(tmp_path / "toy.db", False).read_variables() == {"region": "us-east"}


def test_a_scheme_no_backend_claims_is_refused_naming_those_that_exist(tmp_path: Path) -> None:
    line = one_clear_line(invoke(tmp_path, "--registry", "toy:///x.db", "deployment", "ls"))
    assert "'toy:///x.db' is not supported: use sqlite:///PATH, prefect" in line


DOCKER_DEPLOYMENT = """\
name: on-docker
flow_name: docker
entrypoint: flow.py:run
infrastructure:
  type: docker-container
  image: python:3.11
"""
