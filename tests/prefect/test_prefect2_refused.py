"""A Prefect 2.20 server is refused as too old, in one line, and nothing is written to it.

The README says the Prefect backend needs Prefect 3.x; this checks that claim against a real
Prefect 2.20.27 server, which ``.ci/run`` starts beside the 3.9.1 one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.gitrepo import repository

pytestmark = pytest.mark.prefect


def deployment_count(api_url: str) -> int:
    headers = {"Content-Type": "application/json"}
    request = urllib.request.Request(f"{api_url}/deployments/count", data=b"{}", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.loads(response.read()))


@pytest.mark.parametrize(
    "command", [("sync", "../repo"), ("plan", "../repo"), ("deployment", "ls"), ("status",)], ids=" ".join
)
def test_every_command_refuses_a_prefect_2_server_in_one_line(
    prefect2_api_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    repository(tmp_path / "repo", ["nightly"])
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "")}
    before = deployment_count(prefect2_api_url)
    done = subprocess.run(
        [sys.executable, "-m", "controller", *command, "--registry", f"prefect+{prefect2_api_url}"],
        capture_output=True, text=True, timeout=120, cwd=work, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "runs 2.20.27, too old: deployctl needs Prefect 3.x; upgrade the server" in done.stderr
    assert deployment_count(prefect2_api_url) == before
