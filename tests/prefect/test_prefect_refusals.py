"""``plan`` refuses wherever ``sync`` of the same commit would, and says the same thing first.

One case per refusal a sync against a Prefect server can make, each run as CI runs it: the
real ``deployctl`` command, only HOME set, the repository path typed relative, from another
folder. Both commands must exit 2 with the same one-line error, and nothing is written. (The
refusal of a Prefect 2 server by every command is ``test_prefect2_refused.py``.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import prefect_cli, shared_pool, unique

pytestmark = pytest.mark.prefect

FLOW = "def run(n: int = 1):\n    print(n)\n"


def block(flow: str, pool: str = "null", extra: str = "") -> str:
    return f"name: d\nflow_name: {flow}\nentrypoint: flow.py:run\nwork_pool_name: {pool}\n{extra}"


def project(pool: str, job_variables: str = "{}", parameters: str = "{}") -> str:
    return (
        f"deployments:\n  - name: {unique('p')}\n    entrypoint: flow.py:run\n"
        f"    parameters: {parameters}\n"
        f"    work_pool:\n      name: {pool}\n      job_variables: {job_variables}\n"
    )


CASES = {
    "no pool named, no default": lambda flow, pool: block(flow),
    "a pool missing on the server": lambda flow, pool: block(flow, unique("absent")),
    "job variables the pool refuses": lambda flow, pool: project(pool, "{env: {PORT: 8080}}"),
    "an unknown Prefect variable": lambda flow, pool: project(
        pool, parameters="{n: '{{ prefect.variables.nope_x }}'}"
    ),
    "an enforced schema with a $ref to nothing": lambda flow, pool: block(
        flow,
        pool,
        "enforce_parameter_schema: true\nparameter_openapi_schema:\n  type: object\n"
        "  properties:\n    n: {$ref: '#/definitions/Missing'}\n",
    ),
}


def deployctl(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("case", list(CASES))
def test_plan_refuses_with_the_message_sync_gives(
    prefect_server: PrefectServer, tmp_path: Path, case: str
) -> None:
    flow = unique("refused")
    repo = GitRepo(tmp_path / "checkout" / "repo")
    manifest = CASES[case](flow, shared_pool(prefect_server))
    name = "prefect.yaml" if manifest.startswith("deployments:") else "deployment.yaml"
    repo.write({f"flows/a/{name}": manifest, "flows/a/flow.py": FLOW}).commit(case)
    registry = f"prefect+{prefect_server.api_url}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    source = ("../checkout/repo", "--registry", registry, "--owner", unique("owner"))

    planned = deployctl(elsewhere, tmp_path / "ci-plan", "plan", *source)
    synced = deployctl(elsewhere, tmp_path / "ci-sync", "sync", *source)

    for done in (planned, synced):
        assert done.returncode == 2, (case, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert f"flows/a/{name}:" in done.stderr  # the file and line of the problem
    assert planned.stderr == synced.stderr
    listed = prefect_cli(prefect_server, "deployment", "ls", "--flow-name", flow, check=False)
    assert flow not in listed.stdout  # nothing was written
