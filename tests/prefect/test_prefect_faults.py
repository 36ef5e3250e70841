"""Outages between deployctl and a real Prefect server: 503 storms and connection resets from a
fault proxy on loopback are retried; a server that stays down is one line saying so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from controller.adapters.prefect.client import TRIES, PrefectClient
from controller.adapters.prefect.registry import PrefectRegistry, open_prefect_registry
from controller.errors import ConfigError
from tests.gitrepo import GitRepo, deployment_files
from tests.prefect.conftest import PrefectServer
from tests.prefect.fault_proxy import FaultProxy
from tests.prefect.helpers import PrefectSync, shared_pool, unique

pytestmark = pytest.mark.prefect


def through_proxy(server: PrefectServer, proxy: FaultProxy) -> PrefectServer:
    return PrefectServer(f"http://127.0.0.1:{proxy.port}/api", server.bin_dir)


def upstream(server: PrefectServer) -> tuple[str, int]:
    parts = urlsplit(server.api_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def repository(root: Path, flow: str, names: list[str]) -> GitRepo:
    repo = GitRepo(root)
    for name in names:
        files = deployment_files(name)
        files[f"flows/{name}/deployment.yaml"] = files[f"flows/{name}/deployment.yaml"].replace(
            "flow_name: etl", f"flow_name: {flow}"
        )
        repo.write(files)
    repo.commit("flows")
    return repo


def test_503_storms_and_resets_are_retried(prefect_server: PrefectServer, tmp_path: Path) -> None:
    def every_third_fails(n: int, line: str, body: bytes) -> str | None:
        return ("503" if n % 2 else "reset") if n % 3 == 0 else None

    proxy = FaultProxy(upstream(prefect_server), every_third_fails)
    flow = unique("faulty")
    repo = repository(tmp_path / "repo", flow, ["a", "b", "c"])
    sync = PrefectSync(through_proxy(prefect_server, proxy), repo, tmp_path / "home", unique("owner"), {})
    registry = sync.registry()
    waits: list[float] = []
    registry.client.sleep = waits.append
    result = sync.sync(registry)
    proxy.close()
    assert result.ok, result.error
    assert {kind for kind, _ in proxy.faults} == {"503", "reset"}
    assert waits, "the faults were retried after a backoff"
    direct = PrefectSync(prefect_server, repo, tmp_path / "home-2", sync.owner, {})
    again = direct.registry()
    rerun = direct.sync(again, full=True)
    assert rerun.plan is not None and rerun.plan.counts == {"create": 0, "update": 0, "delete": 0, "noop": 3}
    assert again.client.writes == 0


def test_a_server_that_stays_down_is_one_line(prefect_server: PrefectServer, tmp_path: Path) -> None:
    """The first request (the version check) passes, then the server answers only 503."""
    proxy = FaultProxy(upstream(prefect_server), lambda n, line, body: "503" if n > 1 else None)
    waits: list[float] = []
    registry = PrefectRegistry(PrefectClient(f"http://127.0.0.1:{proxy.port}/api", sleep=waits.append))
    sync = PrefectSync(
        prefect_server, repository(tmp_path / "repo", unique("down"), ["a"]), tmp_path, "o", {}
    )
    result = sync.sync(registry)
    proxy.close()
    assert result.error is not None and "\n" not in result.error
    assert "answered 503" in result.error and "the next sync retries" in result.error
    assert proxy.faults and len(proxy.faults) % TRIES == 0
    assert len(waits) == len(proxy.faults) // TRIES * (TRIES - 1)


@pytest.mark.parametrize(
    ("settings", "header"),
    [
        ({"PREFECT_API_KEY": "pnu_topsecret"}, "Bearer pnu_topsecret"),
        ({"PREFECT_API_AUTH_STRING": "admin:topsecret"}, "Basic YWRtaW46dG9wc2VjcmV0"),
    ],
)
def test_credentials_are_sent_and_a_refusal_says_what_to_do_without_them(
    prefect_server: PrefectServer, settings: dict[str, str], header: str
) -> None:
    proxy = FaultProxy(upstream(prefect_server), lambda n, line, body: "401")
    with pytest.raises(ConfigError) as refused:
        open_prefect_registry(f"prefect+http://127.0.0.1:{proxy.port}/api", settings)
    proxy.close()
    assert f"authorization: {header}".lower() in proxy.heads[0].lower()
    message = str(refused.value)
    assert "PREFECT_API_KEY" in message and "topsecret" not in message and "\n" not in message


def test_an_outage_mid_apply_leaves_old_or_new_and_the_next_sync_converges(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    def third_create_never_answers(n: int, line: str, body: bytes) -> str | None:
        # by name, not by count: the server's own 503s (its services hold the lock) are retried too
        if line.startswith("POST /api/deployments/ ") and b'"name":"c"' in body.replace(b" ", b""):
            return "503"
        return None

    proxy = FaultProxy(upstream(prefect_server), third_create_never_answers)
    repo = repository(tmp_path / "repo", unique("outage"), ["a", "b", "c", "d"])
    owner = unique("owner")
    broken = PrefectSync(through_proxy(prefect_server, proxy), repo, tmp_path / "ci-1", owner, {})
    registry = broken.registry()
    # short real waits: the server's own 503s (its services hold the SQLite lock) must pass
    registry.client.sleep = lambda seconds: time.sleep(min(seconds, 0.2))
    failed = broken.sync(registry)
    assert any(line.startswith("POST /api/deployments/ ") for _, line in proxy.faults), failed.error
    proxy.close()
    assert failed.error is not None and "503" in failed.error

    healthy = PrefectSync(prefect_server, repo, tmp_path / "ci-2", owner, {})
    again = healthy.sync()  # a failed pass is retried as it is: no --full needed
    assert again.ok and again.plan is not None
    counts = again.plan.counts
    # What the outage left: created and recorded (noop), never reached (create), or written but
    # not recorded because the answer was lost (update): never deleted, never doubled.
    assert counts["delete"] == 0 and counts["create"] >= 1 and counts["noop"] >= 1
    assert sum(counts.values()) == 4
    settled = healthy.registry()
    last = healthy.sync(settled, full=True)
    assert last.plan is not None and last.plan.counts["noop"] == 4 and settled.client.writes == 0


def test_failed_writes_are_reported_as_failed_and_the_next_sync_retries_them(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """Applied means applied: 2 of 4 creates fail; the pass says so, exits 2, keeps the last
    applied revision, and a plain re-run (another CI job, no --full) creates the two."""

    def second_and_fourth_create_fail(n: int, line: str, body: bytes) -> str | None:
        refused = (b'"name":"b"', b'"name":"d"')
        if line.startswith("POST /api/deployments/ ") and any(r in body.replace(b" ", b"") for r in refused):
            return "422"
        return None

    proxy = FaultProxy(upstream(prefect_server), second_and_fourth_create_fail)
    flow = unique("half")
    repository(tmp_path / "checkout" / "repo", flow, ["a", "b", "c", "d"])
    owner = unique("owner")
    env = {
        "HOME": str(tmp_path / "home"),
        "PATH": os.environ.get("PATH", ""),
        "DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL": shared_pool(prefect_server),
    }
    faulty = f"prefect+http://127.0.0.1:{proxy.port}/api"
    direct = f"prefect+{prefect_server.api_url}"

    def deployctl(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "controller", *args, "--owner", owner]
        return subprocess.run(command, cwd=tmp_path / "checkout", env=env, capture_output=True, text=True)

    failed = deployctl("sync", "repo", "--registry", faulty)
    proxy.close()
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "Applied 2 of 4; 2 failed" in failed.stdout and "Traceback" not in failed.stderr
    assert failed.stdout.count("failed: ") == 2 and "Refused by a proxy" in failed.stdout

    status = json.loads(deployctl("status", "--registry", direct, "-o", "json").stdout)
    (mine,) = [s for s in status if s["owner"] == owner]
    assert mine["last_applied_revision"] is None
    ready = next(c for c in mine["conditions"] if c["type"] == "Ready")
    assert ready["status"] is False and ready["reason"] == "ApplyFailed"
    assert "Applied 2 of 4; 2 failed" in ready["message"]

    planned = deployctl("plan", "repo", "--registry", direct)
    assert planned.returncode == 1 and "2 to create" in planned.stdout, planned.stdout

    retried = deployctl("sync", "repo", "--registry", direct)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "Applied: 2 to create, 0 to update, 0 to delete, 2 unchanged" in retried.stdout
    again = deployctl("plan", "repo", "--registry", direct)
    assert again.returncode == 0 and "up to date" in again.stdout
    rows = open_prefect_registry(direct, {}).list_deployments()
    names = {row.name for row in rows if row.flow_name == flow}
    assert names == {"a", "b", "c", "d"}
