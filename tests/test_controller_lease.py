"""Exactly one active writer per owner: the registry lease row, and two real controller processes
on one registry where the active one is killed with SIGKILL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.sqlite.lease import SqliteOwnerControl, set_suspended
from tests.controller_fixtures import ControllerProcess, GitDaemon, Published, wait_for
from tests.gitrepo import deployment_files

LEASE = 2.0

pytestmark = pytest.mark.controller


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_lease_has_one_holder_until_it_expires_or_is_released(tmp_path: Path) -> None:
    wall = Wall()
    a = SqliteOwnerControl(tmp_path / "registry.db", "owner", "a", lease_seconds=10, wall=wall)
    b = SqliteOwnerControl(tmp_path / "registry.db", "owner", "b", lease_seconds=10, wall=wall)
    other = SqliteOwnerControl(tmp_path / "registry.db", "another-owner", "b", lease_seconds=10, wall=wall)
    assert a.acquire() and not b.acquire() and other.acquire()
    wall.now += 9
    assert a.acquire() and not b.acquire()  # renewed: expires 10 s from now
    wall.now += 9.5
    assert not b.acquire()
    wall.now += 1
    assert b.acquire() and not a.acquire()
    holder = a.current_holder()
    assert holder is not None and holder.holder == "b"
    b.release()
    assert a.acquire()


def test_suspend_and_relayed_refreshes_are_per_owner(tmp_path: Path) -> None:
    database = tmp_path / "registry.db"
    control = SqliteOwnerControl(database, "owner", "a")
    assert not control.suspended() and control.refresh_requests() == 0
    set_suspended(database, "owner", True)
    assert control.suspended()
    assert not SqliteOwnerControl(database, "another", "a").suspended()
    set_suspended(database, "owner", False)
    control.request_refresh()
    control.request_refresh()
    assert not control.suspended() and control.refresh_requests() == 2


@pytest.fixture
def published(tmp_path: Path) -> Iterator[Published]:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served").start()
    repo = Published(tmp_path, daemon)
    repo.push(deployment_files("first"), "initial")
    yield repo
    daemon.stop()


def applied_runs(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "registry.db") as db:
        return db.execute("SELECT revision, outcome FROM sync_runs ORDER BY id").fetchall()


def role(controller: ControllerProcess) -> str:
    return str(controller.controller().get("role"))


def test_a_standby_takes_over_within_two_lease_periods_of_a_kill_9(
    tmp_path: Path, published: Published
) -> None:
    home = tmp_path / "home"
    args = ("--interval", "300", "--lease", str(LEASE))
    first = ControllerProcess(published.url, home, *args)
    second: ControllerProcess | None = None
    try:
        wait_for(lambda: first.get("/readyz")[0] == 200, what="the first controller")
        second = ControllerProcess(published.url, home, *args)
        wait_for(lambda: role(second) == "standby", what="the second controller to stand by")
        assert second.get("/readyz") == (200, "standby\n")
        assert second.metric("deployctl_active") == 0 and first.metric("deployctl_active") == 1

        new = published.push(deployment_files("second"))
        assert second.github_push()[0] == 202  # delivered to the standby, relayed through the registry
        wait_for(lambda: first.controller()["applied_revision"] == new, what="the relayed webhook")

        first.kill()
        killed = time.monotonic()
        wait_for(lambda: role(second) == "active", timeout=2 * LEASE, what="the takeover")
        took = time.monotonic() - killed
        wait_for(lambda: second.controller()["ready"], what="the new active controller's first pass")
        assert second.controller()["applied_revision"] == new
        assert [r for r, _ in applied_runs(home)].count(new) == 1  # the takeover did not apply it again
        print(f"takeover after kill -9: {took:.2f} s (lease {LEASE} s)")
        assert second.terminate() == 0
    finally:
        first.kill()
        if second is not None:
            second.kill()
