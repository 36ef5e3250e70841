"""A Prefect server's variables: ``deployctl variable`` reads them and refuses to change them.

The real command, only HOME set, started from an empty folder; the variable is made with
Prefect's own REST API, as ``prefect variable set`` does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import server_request, unique

pytestmark = pytest.mark.prefect


def deployctl(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(cwd / "home"), "PATH": os.environ.get("PATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_variables_of_a_prefect_server_are_read_not_written(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    name = unique("var").lower().replace(".", "-")
    created = server_request(
        "POST", f"{prefect_server.api_url}/variables/", json={"name": name, "value": "eu-west"}
    )
    assert created.status_code == 201, created.text
    registry = f"prefect+{prefect_server.api_url}"
    try:
        got = deployctl(tmp_path, "variable", "get", name, "--registry", registry)
        assert (got.returncode, got.stdout) == (0, "eu-west\n"), got.stderr
        listed = json.loads(
            deployctl(tmp_path, "variable", "ls", "-o", "json", "--registry", registry).stdout
        )
        assert {"name": name, "value": "eu-west"} in listed
        refused = deployctl(tmp_path, "variable", "set", name, "other", "--registry", registry)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert "managed by the server" in refused.stderr and "prefect variable set" in refused.stderr
    finally:
        server_request("DELETE", f"{prefect_server.api_url}/variables/name/{name}")
