"""``deployment build --apply`` and ``deployment apply FILE`` against a real Prefect 3.9.1 server.

As a person runs them: the installed command, started in the repository with relative paths,
``HOME`` in a temporary folder, ``--registry prefect+http://…``. ``apply`` writes only what the
named committed file declares; the next ``sync`` applies the rest of the commit.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import server_request, shared_pool, unique

pytestmark = pytest.mark.prefect

FLOW = 'from prefect import flow\n\n\n@flow(name="{name}")\ndef hello(who: str = "world"):\n    print(who)\n'


def test_apply_writes_only_the_named_file_to_the_server(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow, owner, pool = unique("authoring"), unique("authoring-owner"), shared_pool(prefect_server)
    repo = GitRepo(tmp_path / "repo").write({"flows.py": FLOW.format(name=flow)})
    home = tmp_path / "home"
    home.mkdir()
    registry = ["--registry", f"prefect+{prefect_server.api_url}"]

    def deployctl(*args: str) -> str:
        done = run_deployctl(home, *args, *registry, cwd=repo.root)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    preview = deployctl("deployment", "build", "flows.py:hello", "-n", "one", "-p", pool, "--apply")
    assert f"+ create {flow}/one" in preview and "nothing was applied" in preview
    deployctl("deployment", "build", "flows.py:hello", "-n", "two", "-p", pool, "-o", "two-deployment.yaml")
    repo.commit("two deployments")

    def on_server(name: str) -> int:
        return server_request("GET", f"{prefect_server.api_url}/deployments/name/{flow}/{name}").status_code

    assert on_server("one") == 404
    applied = deployctl("deployment", "apply", "hello-deployment.yaml", "--owner", owner)
    assert f"+ {flow}/one" in applied and "two" not in applied
    assert (on_server("one"), on_server("two")) == (200, 404)
    synced = deployctl("sync", ".", "--owner", owner)
    assert f"+ {flow}/two" in synced and f"{flow}/one" not in synced
    assert (on_server("one"), on_server("two")) == (200, 200)
    deployctl("deployment", "build", "flows.py:hello", "-n", "one", "-p", pool, "-t", "late")
    preview = deployctl("deployment", "build", "flows.py:hello", "-n", "one", "-p", pool, "--apply")
    assert f"~ update {flow}/one (owned by {owner})" in preview
    changed = [line.strip() for line in preview.splitlines() if line.startswith("    ")]
    assert changed == ["tags[0]: <absent> -> 'late'"]
