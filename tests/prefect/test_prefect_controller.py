"""The continuous controller against a real Prefect server: its writer lease is a slot of a
one-slot global concurrency limit on the server, suspend lives in a block document there, and
two controller processes for one owner keep exactly one active writer across a kill -9."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.prefect import lock as prefect_lock
from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.control import SHORTEST_LEASE, PrefectOwnerControl
from controller.adapters.prefect.lock import SyncLease
from controller.errors import RegistryUnavailable
from tests.controller_fixtures import ControllerProcess, GitDaemon, Published, free_port, request, wait_for
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import prefect_cli, process_pool, unique
from tests.prefect.test_prefect_sync import block_manifest

pytestmark = pytest.mark.prefect


def control(server: PrefectServer, owner: str) -> PrefectOwnerControl:
    return PrefectOwnerControl(PrefectClient(server.api_url), owner, lease_seconds=1)


def test_the_server_grants_the_lease_to_one_controller_at_a_time(prefect_server: PrefectServer) -> None:
    owner = unique("owner")
    a, b, other = (
        control(prefect_server, owner),
        control(prefect_server, owner),
        control(prefect_server, unique("o")),
    )
    try:
        assert a.lease_seconds == SHORTEST_LEASE  # Prefect's shortest lease, whatever --lease says
        assert a.acquire() and not b.acquire() and other.acquire()
        assert a.acquire() and not b.acquire()  # a renewal, not a second slot
        a.release()
        assert b.acquire() and not a.acquire()
    finally:
        for c in (a, b, other):
            c.release()
            c.close()


def test_suspend_and_relayed_refreshes_live_on_the_server(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    owner = unique("owner")
    watcher = control(prefect_server, owner)
    try:
        assert not watcher.suspended() and watcher.refresh_requests() == 0
        env = {"HOME": str(tmp_path), "PATH": ""}
        suspend = [
            sys.executable,
            "-m",
            "controller",
            "suspend",
            owner,
            "--registry",
            f"prefect+{prefect_server.api_url}",
        ]
        done = subprocess.run(suspend, env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert watcher.suspended() and not control(prefect_server, unique("o")).suspended()
        seen = {watcher.refresh_requests()}
        for _ in range(3):
            watcher.request_refresh()
            seen.add(watcher.refresh_requests())
        assert len(seen) == 4 and watcher.suspended()  # each request is seen; a refresh keeps the flag
        # a resume racing refreshes from standbys is never undone by them
        standbys = [control(prefect_server, owner) for _ in range(3)]
        threads = [threading.Thread(target=s.request_refresh) for s in standbys]
        threads.append(threading.Thread(target=watcher.set_suspended, args=(False,)))
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not watcher.suspended()
        for standby in standbys:
            standby.close()
    finally:
        watcher.close()


@pytest.fixture
def published(tmp_path: Path) -> Iterator[Published]:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served").start()
    yield Published(tmp_path, daemon)
    daemon.stop()


def test_a_standby_controller_takes_over_after_a_kill_9_without_applying_again(
    prefect_server: PrefectServer, published: Published, tmp_path: Path
) -> None:
    flow, pool, owner = unique("ctl"), unique("pool"), unique("owner")
    process_pool(prefect_server, pool)
    published.push(
        {
            "flows/nightly/deployment.yaml": block_manifest(flow, pool),
            "flows/nightly/flow.py": "def run(n=1):\n    return n\n",
        }
    )
    args = (
        "--registry",
        f"prefect+{prefect_server.api_url}",
        "--owner",
        owner,
        "--interval",
        "300",
        "--lease",
        "1",
    )
    first = ControllerProcess(published.url, tmp_path / "one" / ".deployctl", *args)
    second: ControllerProcess | None = None
    try:
        wait_for(lambda: first.get("/readyz")[0] == 200, timeout=60, what="the first controller")
        assert first.controller()["role"] == "active"
        second = ControllerProcess(published.url, tmp_path / "two" / ".deployctl", *args)
        wait_for(lambda: second.controller()["role"] == "standby", timeout=60, what="the standby")
        assert second.get("/readyz") == (200, "standby\n")

        new = published.push({"flows/nightly/flow.py": "def run(n=1):\n    return n + 1\n"})
        assert second.github_push()[0] == 202  # relayed to the active one through the server
        wait_for(
            lambda: first.controller()["applied_revision"] == new, timeout=60, what="the relayed webhook"
        )
        deployment = json.loads(
            prefect_cli(prefect_server, "deployment", "inspect", f"{flow}/nightly", "-o", "json").stdout
        )
        assert deployment["version"] == new[:12]

        first.kill()
        killed = time.monotonic()
        # the lease lasts Prefect's 60 s and its repossessor looks every 15 s
        wait_for(
            lambda: second.controller()["role"] == "active",
            timeout=2 * SHORTEST_LEASE + 30,
            what="the takeover",
        )
        took = time.monotonic() - killed
        wait_for(lambda: second.controller()["ready"], timeout=60, what="the new active controller's pass")
        assert second.controller()["applied_revision"] == new
        after = json.loads(
            prefect_cli(prefect_server, "deployment", "inspect", f"{flow}/nightly", "-o", "json").stdout
        )
        assert after["updated"] == deployment["updated"]  # the takeover wrote nothing: it was applied
        print(f"takeover after kill -9 on a Prefect server: {took:.1f} s")
        assert second.terminate() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()


class PrivateServer:
    """A Prefect server of this test alone, restartable on its database (``.ci/prefect-server``
    starts each server afresh)."""

    def __init__(self, bin_dir: Path, home: Path) -> None:
        self.bin_dir, self.home, self.port = bin_dir, home, free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
        }
        command = [str(self.bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port"]
        self.process = subprocess.Popen(
            [*command, str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for(self._healthy, timeout=90, what="the server")

    def _healthy(self) -> bool:
        try:
            return request(self.api_url + "/health")[0] == 200
        except OSError:  # not listening yet
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def test_after_a_server_restart_the_orphaned_slot_is_taken_by_exactly_one_controller(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    """Prefect forgets leases on a restart but keeps the slot counted: unless the orphan is
    proven and reset, every controller stands by, and every sync waits and fails, until
    someone resets the limits by hand."""
    server = PrivateServer(prefect_server.bin_dir, tmp_path / "prefect-home")
    owner = unique("owner")

    def control_of() -> PrefectOwnerControl:
        client = PrefectClient(server.api_url)
        return PrefectOwnerControl(client, owner, lease_seconds=1, patience=3, claim_wait=0)

    server.start()
    a, b = control_of(), control_of()
    try:
        assert a.acquire() and not b.acquire()
        deadline = time.monotonic() + 5  # a live holder's lease is renewed, never reset
        while time.monotonic() < deadline:
            assert a.acquire() and not b.acquire()
            time.sleep(0.3)
        SyncLease(PrefectClient(server.api_url), owner).acquire()  # a sync in flight
        server.stop()
        server.start()
        started = time.monotonic()
        SyncLease(PrefectClient(server.api_url), owner, patience=2, claim_wait=0).acquire()
        # patience, a jitter of up to 5 s, and a claim held for a third of the 60 s lease
        assert time.monotonic() - started < 60, "the next sync proves the orphan and goes on"
        holders: list[PrefectOwnerControl] = []

        def one_holds() -> bool:
            holders.extend(c for c in (a, b) if c.acquire())
            return bool(holders)

        wait_for(one_holds, timeout=60, what="a controller to take the orphaned slot")
        (holder,) = set(holders)
        other = b if holder is a else a
        for _ in range(10):
            assert holder.acquire() and not other.acquire()
            time.sleep(0.3)
    finally:
        for c in (a, b):
            with contextlib.suppress(Exception):
                c.release()
            c.close()
        server.stop()


def test_a_deactivated_lease_limit_is_activated_again(prefect_server: PrefectServer) -> None:
    owner = unique("owner")
    a, b = control(prefect_server, owner), control(prefect_server, owner)
    try:
        assert a.acquire()
        a.release()
        a.client.write("PATCH", f"/v2/concurrency_limits/{a.name}", {"active": False})
        assert wait_for(lambda: b.acquire(), timeout=5, what="the limit to be active again")
        assert not a.acquire()
    finally:
        for c in (a, b):
            c.release()
            c.close()


def test_of_two_waiters_proving_one_orphan_at_once_exactly_one_resets_it(
    prefect_server: PrefectServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pause apart: the claim that still stands a while later decides."""
    monkeypatch.setattr(prefect_lock, "JITTER", 0.0)
    owner, client = unique("owner"), PrefectClient(prefect_server.api_url)
    name = prefect_lock.lock_name(owner)
    prefect_lock.ensure_limit(client, name)
    client.write("PATCH", f"{prefect_lock.LIMITS}/{name}", {"active_slots": 1})  # as after a restart
    waiters = [
        prefect_lock.SlotHolder(
            PrefectClient(prefect_server.api_url), "sync-lease", owner, patience=0, claim_wait=1
        )
        for _ in range(3)
    ]
    waiters[0].hold(str(uuid.uuid4()), 60)  # names a lease the server does not know
    assert not any(w.reset_if_orphaned(name, time.sleep) for w in waiters)  # first sight
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.reset_if_orphaned(name, time.sleep)))
        for w in waiters
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, False, True]


def test_a_sync_that_gives_up_waiting_for_the_lock_says_how_to_free_it(prefect_server: PrefectServer) -> None:
    owner = unique("owner")
    first = SyncLease(PrefectClient(prefect_server.api_url), owner)
    first.acquire()
    ticks = iter(range(0, 10_000, 100))  # each look at the clock: 100 s later
    second = SyncLease(PrefectClient(prefect_server.api_url), owner, clock=lambda: float(next(ticks)))
    try:
        with pytest.raises(RegistryUnavailable) as refused:
            second.acquire()
        assert f"prefect global-concurrency-limit update {second.name} --active-slots 0" in str(refused.value)
    finally:
        first.release()
