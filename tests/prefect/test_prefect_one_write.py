"""One change, one write, against a real Prefect server: in a prefect.yaml of 100 deployments,
editing one entry makes exactly one deployment write, and inserting one makes exactly one
create. Writes are counted where they happen: by a loopback proxy in front of the server that
sees every request deployctl sends and the status the server answered it with."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from controller.core.plan import Action
from tests.gitrepo import GitRepo
from tests.many_deployments import FLOW, entry, project
from tests.prefect.conftest import PrefectServer
from tests.prefect.fault_proxy import FaultProxy
from tests.prefect.helpers import PrefectSync, process_pool, unique
from tests.prefect.test_prefect_faults import through_proxy, upstream

pytestmark = pytest.mark.prefect

N = 100
DEPLOYMENT_WRITE = re.compile(r"^(POST|PATCH|PUT|DELETE) /api/deployments/(?!filter|count|paginate)")


def deployment_writes(proxy: FaultProxy) -> list[str]:
    """The deployment writes the server accepted (reads by filter excluded; a request the busy
    server answered 503 and the client sent again wrote nothing the first time)."""
    return [line for line, status in proxy.answered if DEPLOYMENT_WRITE.match(line) and 200 <= status < 300]


def watched_sync(setup: PrefectSync) -> tuple[object, list[str]]:
    """A pass through a loopback proxy that records every request, and the deployment writes."""
    proxy = FaultProxy(upstream(setup.server), lambda n, line, body: None)
    try:
        watched = PrefectSync(through_proxy(setup.server, proxy), setup.repo, setup.home, setup.owner, {})
        result = watched.sync()
    finally:
        proxy.close()
    assert result.ok, (result.error, dict(result.failures))
    return result, deployment_writes(proxy)


@pytest.fixture
def hundred(prefect_server: PrefectServer, tmp_path: Path) -> PrefectSync:
    flow, pool = unique("many"), unique("pool")
    process_pool(prefect_server, pool)
    repo = GitRepo(tmp_path / "repo")
    entries = [entry(f"d-{i}", i, pool=pool) for i in range(N)]
    repo.write({"prefect.yaml": project(entries), "flow.py": FLOW.format(name=flow)}).commit("hundred")
    setup = PrefectSync(prefect_server, repo, tmp_path / "home", unique("owner"), {})
    setup.flow, setup.pool, setup.entries = flow, pool, entries  # type: ignore[attr-defined]
    first = setup.sync()
    assert first.ok and first.plan is not None and first.plan.counts["create"] == N, first.error
    return setup


def test_editing_one_entry_writes_one_deployment(hundred: PrefectSync) -> None:
    entries = list(hundred.entries)  # type: ignore[attr-defined]
    entries[42] = entry("d-42", 4242, pool=hundred.pool)  # type: ignore[attr-defined]
    commit = hundred.repo.write({"prefect.yaml": project(entries)}).commit("d-42 takes another n")
    result, writes = watched_sync(hundred)
    plan = result.plan  # type: ignore[attr-defined]
    assert plan.counts == {"create": 0, "update": 1, "delete": 0, "noop": N - 1}
    (update,) = plan.of(Action.UPDATE)
    assert update.id == f"{hundred.flow}/d-42"  # type: ignore[attr-defined]
    assert len(writes) == 1 and writes[0].startswith("PATCH "), writes
    seen = hundred.inspect(f"{hundred.flow}/d-42")  # type: ignore[attr-defined]
    assert seen["parameters"] == {"n": 4242} and seen["version"] == commit[:12]
    untouched = hundred.inspect(f"{hundred.flow}/d-41")  # type: ignore[attr-defined]
    assert untouched["version"] != commit[:12]


def test_inserting_an_entry_at_the_top_creates_one_and_updates_none(hundred: PrefectSync) -> None:
    entries = [entry("new", 7, pool=hundred.pool), *hundred.entries]  # type: ignore[attr-defined]
    hundred.repo.write({"prefect.yaml": project(entries)}).commit("a new first entry")
    result, writes = watched_sync(hundred)
    assert result.plan.counts == {"create": 1, "update": 0, "delete": 0, "noop": N}  # type: ignore[attr-defined]
    assert [line.split(" ", 2)[:2] for line in writes] == [["POST", "/api/deployments/"]], writes


def test_a_code_folder_is_where_the_worker_starts(prefect_server: PrefectServer, tmp_path: Path) -> None:
    """With code:, the git pull step sets the working directory to that folder and the
    entrypoint is relative to it, as deployctl's own runner and storage artifact have it."""
    flow, pool = unique("coded"), unique("pool")
    process_pool(prefect_server, pool)
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "prefect.yaml": project([entry("a", 1, "flows/a/flow.py:run", "flows/a", pool)]),
            "flows/a/flow.py": FLOW.format(name=flow),
        }
    ).commit("coded")
    setup = PrefectSync(prefect_server, repo, tmp_path / "home", unique("owner"), {})
    assert setup.sync().ok
    seen = setup.inspect(f"{flow}/a")
    assert seen["entrypoint"] == "flow.py:run"
    steps = [(name, step) for s in seen["pull_steps"] for name, step in s.items()]
    directories = [step["directory"] for name, step in steps if name.endswith("set_working_directory")]
    assert directories == ["{{ deployctl-clone.directory }}/flows/a"]
