"""A rollback that holds, against a controller on a real Prefect server: the controller polls a
git daemon on loopback, `deployctl rollback` and `release` run as CI jobs with a HOME of their
own, and the hold lives on the server, where the controller reads it at every poll."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controller_fixtures import ControllerProcess, Published, wait_for
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import prefect_cli, process_pool, unique
from tests.prefect.test_prefect_controller import published  # noqa: F401  (the fixture)
from tests.prefect.test_prefect_sync import block_manifest

pytestmark = pytest.mark.prefect


def test_a_held_owner_on_prefect_is_reported_by_polls_and_applied_after_release(
    prefect_server: PrefectServer,
    published: Published,  # noqa: F811
    tmp_path: Path,
) -> None:
    flow, pool, owner = unique("held"), unique("pool"), unique("owner")
    process_pool(prefect_server, pool)
    registry = f"prefect+{prefect_server.api_url}"

    def push(n: int) -> str:
        return published.push({"flows/nightly/deployment.yaml": block_manifest(flow, pool, n=n),
                               "flows/nightly/flow.py": "def run(n=1):\n    return n\n"})  # fmt: skip

    def version() -> str:
        shown = prefect_cli(prefect_server, "deployment", "inspect", f"{flow}/nightly", "-o", "json")
        return str(json.loads(shown.stdout)["version"])

    def job(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "controller", *args, "--registry", registry],
            cwd=tmp_path, env={"HOME": str(tmp_path / "job"), "PATH": os.environ.get("PATH", "")},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = push(1)
    controller = ControllerProcess(
        published.url,
        tmp_path / "ctl" / ".deployctl",
        "--registry",
        registry,
        "--owner",
        owner,
        "--interval",
        "0.5",
    )
    try:
        wait_for(lambda: controller.get("/readyz")[0] == 200, timeout=60, what="the first pass")
        second = push(2)
        wait_for(lambda: controller.controller()["applied_revision"] == second, timeout=60, what="a poll")
        assert f"held at {first[:12]}; HEAD is {second[:12]}" in job("rollback", owner, "--to", first)
        assert version() == first[:12]

        third = push(3)
        wait_for(lambda: controller.controller()["remote_head"] == third, timeout=60, what="the new head")
        wait_for(lambda: controller.controller()["held"], timeout=60, what="the hold, read on the server")
        held = controller.controller()
        assert held["held"]["revision"] == first and f"HEAD is {third[:12]}" in held["held_message"]
        assert controller.metric("deployctl_held") == 1
        assert version() == first[:12]  # polls applied nothing

        assert "released" in job("release", owner)
        wait_for(lambda: controller.controller()["applied_revision"] == third, timeout=60, what="the head")
        assert version() == third[:12] and controller.metric("deployctl_held") == 0
        passes = json.loads(job("history", owner, "-o", "json"))
        # release asks the controller to look at once (a relayed refresh, as a standby's webhook is)
        released, *before = [(p["trigger"], p["revision"]) for p in passes]
        assert released in (("poll", third), ("webhook", third))
        assert before == [
            ("rollback", first),
            ("poll", second),
            ("poll", first),
        ]
    finally:
        controller.kill()
