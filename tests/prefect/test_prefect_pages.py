"""The status pages over the Prefect backend: ``deployctl ui --registry prefect+…`` as a real
process shows the owner's status and its deployments as the server holds them; runs live with
Prefect, so the pages say so rather than show none."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo, deployment_files
from tests.pages_fixtures import deployctl_process
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import shared_pool, unique

pytestmark = pytest.mark.prefect


def get(url: str) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=30)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = connection.getresponse()
    return response.status, response.read().decode()


def test_the_pages_show_a_prefect_registry(prefect_server: PrefectServer, tmp_path: Path) -> None:
    name, owner = unique("pages"), unique("pages-owner")
    GitRepo(tmp_path / "repo").write(deployment_files(name)).commit("one deployment")
    env = {"DEPLOYCTL_REGISTRY": f"prefect+{prefect_server.api_url}",
           "DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL": shared_pool(prefect_server)}  # fmt: skip
    synced = run_deployctl(tmp_path, "sync", "repo", "--owner", owner, cwd=tmp_path, env=env, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with deployctl_process(tmp_path, tmp_path, "ui", "--listen", "127.0.0.1:0", env=env) as ui:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        assert " at http://127.0.0.1:" in line, (line, ui.stderr.read() if ui.stderr else "")
        base = line.split(" at ", 1)[1].split()[0].rstrip("/")
        status, overview = get(base + "/")
        assert status == 200 and owner in overview and '<span class="badge ready">ready</span>' in overview
        status, listed = get(base + f"/deployments?q={name}")
        assert status == 200 and "1 found" in listed and f'href="/deployments/etl/{name}"' in listed
        status, detail = get(base + f"/deployments/etl/{name}")
        assert status == 200 and "keeps the runs" in detail and owner in detail
        assert get(base + "/runs/any-run")[0] == 404
        assert "<h2>History</h2>" in detail and "<td>create</td>" in detail  # the pass that created it
        status, passes = get(base + f"/passes?owner={owner}")
        assert status == 200 and f'href="/deployments/etl/{name}">etl/{name}</a>' in passes
        assert passes.count('<span class="badge applied">applied</span>') == 1 and "older" not in passes
        assert "No pass here (past the oldest)" in get(base + f"/passes?owner={owner}&page=2")[1]
