"""End to end on Prefect's own worker: a flow deployctl deployed from a git repository runs the
code of the synced commit, and after a change and a sync, the new code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.runs import PrefectRuns
from controller.errors import NotFound
from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, prefect_cli, process_pool, unique, worker_pass

pytestmark = pytest.mark.prefect


def flow_source(flow: str, says: str) -> str:
    return f"from prefect import flow\n\n\n@flow(name='{flow}')\ndef say():\n    print('{says}')\n"


def run_on_worker(server: PrefectServer, pool: str, deployment: str, cwd: Path) -> tuple[str, str]:
    """One run of ``deployment`` on one pass of Prefect's worker: its final state and its logs."""
    (run,) = worker_pass(server, pool, [deployment], cwd)
    return run.state_type, run.output


def hello_repository(server: PrefectServer, root: Path, says: str) -> tuple[GitRepo, str, str]:
    flow, pool = unique("hello"), unique("pool")
    process_pool(server, pool)
    repo = GitRepo(root)
    repo.write(
        {
            "flows/hello/deployment.yaml": f"name: say\nflow_name: {flow}\nentrypoint: flow.py:say\n"
            f"work_pool_name: {pool}\n",
            "flows/hello/flow.py": flow_source(flow, says),
        }
    ).commit("one")
    return repo, flow, pool


def test_the_worker_runs_the_code_of_the_synced_commit(prefect_server: PrefectServer, tmp_path: Path) -> None:
    repo, flow, pool = hello_repository(prefect_server, tmp_path / "repo", "version one")
    sync = PrefectSync(prefect_server, repo, tmp_path / "home", unique("owner"), {})
    assert sync.sync().ok
    state, output = run_on_worker(prefect_server, pool, f"{flow}/say", tmp_path)
    assert (state, "version one" in output) == ("COMPLETED", True)

    repo.write({"flows/hello/flow.py": flow_source(flow, "version two")}).commit("two")
    assert sync.sync().ok
    state, output = run_on_worker(prefect_server, pool, f"{flow}/say", tmp_path)
    assert state == "COMPLETED"
    assert "version two" in output and "version one" not in output


def test_storage_mode_runs_the_uploaded_artifact(prefect_server: PrefectServer, tmp_path: Path) -> None:
    repo, flow, pool = hello_repository(prefect_server, tmp_path / "repo", "from the artifact")
    sync = PrefectSync(
        prefect_server, repo, tmp_path / "home", unique("owner"), {"DEPLOYCTL_PREFECT_CODE": "storage"}
    )
    assert sync.sync().ok
    seen = sync.inspect(f"{flow}/say")
    (step,) = seen["pull_steps"]
    assert step["prefect.deployments.steps.run_shell_script"]["script"].endswith(".tar.gz")
    repo.write({"flows/hello/flow.py": flow_source(flow, "not synced")}).commit("later")
    state, output = run_on_worker(prefect_server, pool, f"{flow}/say", tmp_path)
    assert state == "COMPLETED" and "from the artifact" in output


def test_a_run_of_an_unknown_deployment_is_one_line(prefect_server: PrefectServer) -> None:
    runs = PrefectRuns(PrefectClient(prefect_server.api_url))
    with pytest.raises(NotFound, match="no deployment 'nope/never' on the Prefect server"):
        runs.create("nope/never")


def test_deployment_run_watch_follows_a_run_on_prefects_worker(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """`deployctl deployment run --watch --registry prefect+…` as a person types it, with only HOME
    set; Prefect's worker (`--run-once`) executes the run."""
    repo, flow, pool = hello_repository(prefect_server, tmp_path / "repo", "watched on prefect")
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "")}
    command = [sys.executable, "-m", "controller"]
    registry = f"prefect+{prefect_server.api_url}"
    synced = subprocess.run(
        [*command, "sync", "repo", "--registry", registry],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert synced.returncode == 0, synced.stderr
    watch = subprocess.Popen(
        [*command, "deployment", "run", f"{flow}/say", "--watch", "--registry", registry],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    worker_env = {
        **os.environ,
        "PATH": f"{prefect_server.bin_dir}:{os.environ.get('PATH', '')}",
        "PREFECT_API_URL": prefect_server.api_url,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
    }
    try:
        assert watch.stdout is not None
        assert watch.stdout.readline().startswith("created flow run "), "the run is created first"
        subprocess.run(
            [prefect_server.prefect, "worker", "start", "--pool", pool, "--type", "process", "--run-once"],
            env=worker_env,
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
            check=True,
        )
        output, _ = watch.communicate(timeout=120)
    finally:
        if watch.poll() is None:
            watch.kill()
    assert watch.returncode == 0, output
    assert "Finished in state Completed()" in output, "the server's log lines of the run are streamed"
    assert output.rstrip().endswith("finished: Completed")
    assert f"waiting: no worker serves work pool '{pool}' queue 'default'" in output, "said before the worker"


def test_run_watch_says_no_worker_serves_the_pool_and_stops_at_its_timeout(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """As typed, with only HOME set and a relative path: no worker polls the pool."""
    from tests.cli_helpers import run_deployctl

    _, flow, pool = hello_repository(prefect_server, tmp_path / "repo", "never run")
    registry = f"prefect+{prefect_server.api_url}"
    home = tmp_path / "home"
    assert run_deployctl(home, "sync", "repo", "--registry", registry, cwd=tmp_path).returncode == 0
    args = ("deployment", "run", f"{flow}/say", "--watch", "--timeout", "3", "--registry", registry)
    done = run_deployctl(home, *args, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    run_id = done.stdout.split()[3]
    waiting, error = done.stderr.splitlines()
    assert waiting.startswith(f"waiting: no worker serves work pool '{pool}' queue 'default' (")
    assert "last polled: never): start one with 'prefect worker start --pool " in waiting
    assert error == (
        f"error: flow run {run_id} is still Scheduled after --timeout 3 s; "
        f"it goes on ('prefect flow-run cancel {run_id}' stops it)"
    )
    prefect_cli(prefect_server, "work-pool", "pause", pool)
    paused = run_deployctl(home, *args, cwd=tmp_path)
    assert f"waiting: work pool '{pool}' is paused: no worker takes its runs until" in paused.stderr
