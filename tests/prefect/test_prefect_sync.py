"""Syncing a git repository into a real Prefect server, read back with Prefect's own CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.state import StateStore
from controller.core.plan import Action, Cause
from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, prefect_cli, process_pool, server_request, unique

pytestmark = pytest.mark.prefect


def block_manifest(flow: str, pool: str, cron: str = "0 * * * *", n: int = 2) -> str:
    """A Prefect 2 ``deployment.yaml`` as ``prefect deployment build`` writes it."""
    return f"""\
name: nightly
flow_name: {flow}
entrypoint: flow.py:run
work_pool_name: {pool}
work_queue_name: default
tags: [etl]
parameters: {{n: {n}}}
schedule:
  cron: '{cron}'
  timezone: Europe/Berlin
infra_overrides:
  env.GREETING: hello
infrastructure:
  type: process
  env: {{LEVEL: debug}}
  stream_output: true
parameter_openapi_schema:
  title: Parameters
  type: object
  properties: {{n: {{title: n, default: 1, type: integer}}}}
  required: []
"""


@pytest.fixture
def setup(prefect_server: PrefectServer, tmp_path: Path) -> PrefectSync:
    flow, pool = unique("etl"), unique("pool")
    process_pool(prefect_server, pool)
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "flows/nightly/deployment.yaml": block_manifest(flow, pool),
            "flows/nightly/flow.py": "def run(n=1):\n    print('n is', n)\n",
        }
    ).commit("nightly")
    sync = PrefectSync(prefect_server, repo, tmp_path / "home", unique("owner"), {})
    sync.flow, sync.pool = flow, pool  # type: ignore[attr-defined]
    return sync


def identity(setup: PrefectSync) -> str:
    return f"{setup.flow}/nightly"  # type: ignore[attr-defined]


def test_prefect_reads_back_what_a_sync_wrote(setup: PrefectSync) -> None:
    result = setup.sync()
    assert result.ok, (result.error, result.failures)
    seen = setup.inspect(identity(setup))
    commit = setup.repo.git("rev-parse", "HEAD")
    assert seen["parameters"] == {"n": 2}
    assert sorted(seen["tags"]) == sorted(["etl", f"deployctl-owner:{setup.owner}"])
    assert [(s["slug"], s["schedule"]["cron"], s["schedule"]["timezone"]) for s in seen["schedules"]] == [
        ("schedule-0", "0 * * * *", "Europe/Berlin")
    ]
    assert seen["job_variables"] == {
        "env": {"LEVEL": "debug", "GREETING": "hello"},
        "stream_output": True,
    }
    assert seen["work_pool_name"] == setup.pool  # type: ignore[attr-defined]
    assert seen["version"] == commit[:12]
    assert "required" not in seen["parameter_openapi_schema"]
    clone, workdir = seen["pull_steps"]
    assert clone["prefect.deployments.steps.git_clone"]["commit_sha"] == commit
    assert clone["prefect.deployments.steps.git_clone"]["repository"] == str(setup.repo.root)
    assert workdir["prefect.deployments.steps.set_working_directory"]["directory"].endswith("/flows/nightly")


def test_no_op_writes_nothing_and_one_change_writes_once(setup: PrefectSync) -> None:
    assert setup.sync().ok
    schedule_ids = [s["id"] for s in setup.inspect(identity(setup))["schedules"]]
    registry = setup.registry()
    result = setup.sync(registry, full=True)
    assert result.ok and result.plan is not None
    assert result.plan.counts["noop"] == 1 and registry.client.writes == 0

    setup.repo.write({"flows/nightly/deployment.yaml": block_manifest(setup.flow, setup.pool, n=3)})  # type: ignore[attr-defined]
    setup.repo.commit("n=3")
    registry = setup.registry()
    assert setup.sync(registry).ok
    deployment_writes = [w for w in registry.client.write_log if w[1].startswith("/deployments")]
    assert [method for method, _ in deployment_writes] == ["PATCH"]
    seen = setup.inspect(identity(setup))
    assert seen["parameters"] == {"n": 3}
    assert [s["id"] for s in seen["schedules"]] == schedule_ids


def test_ui_drift_is_reported_then_restored(setup: PrefectSync) -> None:
    assert setup.sync().ok
    deployment = setup.inspect(identity(setup))
    # What Prefect's UI sends when someone edits the parameters and pauses the schedule.
    server_request(
        "PATCH", f"{setup.server.api_url}/deployments/{deployment['id']}", json={"parameters": {"n": 99}}
    ).raise_for_status()
    planned = setup.sync(dry_run=True)
    assert planned.plan is not None
    (change,) = planned.plan.changes
    assert change.action is Action.UPDATE and change.cause is Cause.DRIFT
    assert [(d.path, d.old, d.new) for d in change.diff] == [("parameters.n", 99, 2)]
    assert setup.sync().ok
    assert setup.inspect(identity(setup))["parameters"] == {"n": 2}


def test_another_owners_deployment_is_never_touched(setup: PrefectSync, tmp_path: Path) -> None:
    assert setup.sync().ok
    other = PrefectSync(setup.server, setup.repo, tmp_path / "other-home", unique("owner"), {})
    result = other.sync()
    assert result.plan is not None and result.plan.conflicts == (identity(setup),)
    assert f"deployctl-owner:{setup.owner}" in setup.inspect(identity(setup))["tags"]
    # The first owner's deployment survives the other owner pruning everything it owns.
    setup.repo.remove("flows").commit("no flows")
    assert other.sync(allow_empty=True).plan is not None
    assert setup.inspect(identity(setup))["parameters"] == {"n": 2}


def test_a_person_made_deployment_with_the_same_name_is_left_alone(
    setup: PrefectSync, prefect_server: PrefectServer
) -> None:
    flow = server_request("POST", f"{prefect_server.api_url}/flows/", json={"name": setup.flow}).json()  # type: ignore[attr-defined]
    server_request(
        "POST",
        f"{prefect_server.api_url}/deployments/",
        json={"name": "nightly", "flow_id": flow["id"], "parameters": {"n": 7}},
    ).raise_for_status()
    result = setup.sync()
    assert not result.ok and result.plan is not None and result.plan.conflicts == (identity(setup),)
    seen = setup.inspect(identity(setup))
    assert seen["parameters"] == {"n": 7} and seen["tags"] == []


def test_removed_from_git_is_pruned_and_two_homes_agree(setup: PrefectSync, tmp_path: Path) -> None:
    assert setup.sync().ok
    second_home = PrefectSync(setup.server, setup.repo, tmp_path / "ci-2", setup.owner, {})
    result = second_home.sync(full=True)
    assert result.ok and result.plan is not None and result.plan.counts["noop"] == 1
    setup.repo.remove("flows").commit("gone")
    assert setup.sync(allow_empty=True).ok
    gone = prefect_cli(setup.server, "deployment", "inspect", identity(setup), check=False)
    assert gone.returncode != 0


def test_a_missing_work_pool_is_refused_with_what_to_do(setup: PrefectSync) -> None:
    assert setup.sync().ok
    missing = unique("no-pool")
    setup.repo.write({"flows/nightly/deployment.yaml": block_manifest(setup.flow, missing)}).commit("pool")  # type: ignore[attr-defined]
    planned, result = setup.sync(dry_run=True), setup.sync()
    for refused in (planned, result):  # refused at plan time, at the line, by plan and sync alike
        (problem,) = refused.diagnostics
        where = (problem.file, problem.line, problem.field)
        assert where == ("flows/nightly/deployment.yaml", 4, "work_pool_name")
        assert f"no work pool '{missing}'" in problem.message
        assert "'prefect: {create_work_pools: true}'" in problem.message
        assert not refused.ok and not refused.failures
    assert setup.inspect(identity(setup))["work_pool_name"] == setup.pool  # type: ignore[attr-defined]


def test_a_deployment_naming_no_pool_gets_the_default_pool_or_is_refused(setup: PrefectSync) -> None:
    """Agent-era manifests say work_pool_name: null; the server must never pick the pool."""
    assert setup.sync().ok
    agent_era = block_manifest(setup.flow, "null")  # type: ignore[attr-defined]
    setup.repo.write({"flows/nightly/deployment.yaml": agent_era}).commit("agent era")
    setup.env["DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL"] = ""
    refused = setup.sync()
    (problem,) = refused.diagnostics
    assert (problem.line, problem.field) == (4, "work_pool_name") and "default_work_pool" in problem.message
    assert setup.inspect(identity(setup))["work_pool_name"] == setup.pool  # type: ignore[attr-defined]

    chosen = unique("chosen")
    process_pool(setup.server, chosen)
    setup.repo.write({".deployctl.yaml": f"prefect:\n  default_work_pool: {chosen}\n"}).commit("a default")
    moved = setup.sync()
    assert moved.ok and moved.plan is not None, moved.error
    (change,) = moved.plan.of(Action.UPDATE)
    assert any(item.path == "work_pool_name" and item.new == chosen for item in change.diff)
    assert setup.inspect(identity(setup))["work_pool_name"] == chosen

    # A schedule edited in Prefect's UI: the drift restore keeps the pool git chose.
    deployment = setup.inspect(identity(setup))
    schedule = deployment["schedules"][0]
    edited = server_request(
        "PATCH",
        f"{setup.server.api_url}/deployments/{deployment['id']}/schedules/{schedule['id']}",
        json={"active": False},
    )
    assert edited.status_code == 204, edited.text
    restored = setup.sync(full=True)
    assert restored.ok and restored.plan is not None and restored.plan.of(Action.UPDATE), restored.error
    after = setup.inspect(identity(setup))
    assert after["work_pool_name"] == chosen and after["schedules"][0]["active"] is True


def test_repository_settings_create_the_pool_and_choose_the_code_mode(setup: PrefectSync) -> None:
    missing = unique("new-pool")
    setup.repo.write(
        {
            "flows/nightly/deployment.yaml": block_manifest(setup.flow, missing),  # type: ignore[attr-defined]
            ".deployctl.yaml": "prefect:\n  create_work_pools: true\n  code: storage\n",
        }
    ).commit("settings")
    result = setup.sync()
    assert result.ok and not result.failures, (result.error, result.failures)
    pool = json.loads(prefect_cli(setup.server, "work-pool", "inspect", missing, "-o", "json").stdout)
    assert pool["type"] == "process"
    seen = setup.inspect(identity(setup))
    assert seen["work_pool_name"] == missing
    (step,) = seen["pull_steps"]
    assert "run_shell_script" in next(iter(step)) and "file://" + str(setup.home) in str(step)


def test_changing_the_code_mode_in_settings_rewrites_the_pull_steps(setup: PrefectSync) -> None:
    setup.repo.write({".deployctl.yaml": "prefect:\n  code: git\n"}).commit("clone the code")
    assert setup.sync().ok
    (clone, _) = setup.inspect(identity(setup))["pull_steps"]
    assert "git_clone" in next(iter(clone))
    setup.repo.write({".deployctl.yaml": "prefect:\n  code: storage\n"}).commit("ship it through storage")
    result = setup.sync()
    assert result.ok and result.plan is not None and result.plan.counts["update"] == 1, result.error
    (step,) = setup.inspect(identity(setup))["pull_steps"]
    assert "run_shell_script" in next(iter(step)) and "file://" + str(setup.home) in str(step)


def test_state_from_before_code_links_makes_the_next_pass_full_then_incremental(setup: PrefectSync) -> None:
    assert setup.sync().ok
    store = StateStore(PrefectClient(setup.server.api_url))
    state = store.read(setup.owner)
    assert state.status is not None
    state.status.pop("records")  # as an older deployctl wrote it
    store.write(state)
    passes = []
    for n in (3, 4):
        setup.repo.write({"flows/nightly/flow.py": f"def run(n={n}):\n    print('n is', n)\n"}).commit(str(n))
        registry, parts = setup.registry(), list[object]()
        read_part = registry.read_part
        registry.read_part = lambda *a, seen=parts, read=read_part: seen.append(a) or read(*a)  # type: ignore[method-assign]
        result = setup.sync(registry)
        assert result.ok and result.plan is not None and result.plan.counts["update"] == 1, result.error
        passes.append("incremental" if parts else "full")
    assert passes == ["full", "incremental"]


def test_job_variables_the_pool_refuses_are_refused_at_plan_time_at_their_line(setup: PrefectSync) -> None:
    """A process pool's template says env values are strings: 8080 would be a 422 mid-apply."""
    web = unique("web")
    project = f"""\
deployments:
  - name: {web}
    entrypoint: flow.py:run
    work_pool:
      name: {setup.pool}
      job_variables:
        env:
          PORT: 8080
"""  # type: ignore[attr-defined]
    setup.repo.write({"flows/nightly/prefect.yaml": project}).commit("a typed env")
    planned, synced = setup.sync(dry_run=True), setup.sync()
    for refused in (planned, synced):
        assert len(refused.diagnostics) == 1, [str(d) for d in refused.diagnostics]
        (problem,) = refused.diagnostics
        where = (problem.file, problem.line, problem.field)
        assert where == ("flows/nightly/prefect.yaml", 8, "deployments[0].work_pool.job_variables.env.PORT")
        assert f"work pool '{setup.pool}'" in problem.message and "8080" in problem.message  # type: ignore[attr-defined]
        assert not refused.ok and not refused.failures
    setup.repo.write({"flows/nightly/prefect.yaml": project.replace("8080", "'8080'")}).commit("a string")
    fixed = setup.sync()
    assert fixed.ok, (fixed.error, fixed.diagnostics)
    assert setup.inspect(f"run/{web}")["job_variables"]["env"] == {"PORT": "8080"}
