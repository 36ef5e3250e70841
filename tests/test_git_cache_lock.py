"""Several deployctl processes on one git cache (issue 26 item 4): fetches are serialised by a
lock beside the cache, a held lock makes the others wait and never delete, and a clash with
another git is transient. Real ``deployctl`` processes, a real git server on loopback."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.git.cache_lock import cache_lock, is_lock_clash
from controller.adapters.git.remote import CachedRemote, GitFailed, RemoteAuth
from controller.adapters.git.source import GitSource
from controller.errors import SourceUnavailable
from controller.ports import SourceSpec
from tests.githttp import GitHttpServer
from tests.gitrepo import deployment_files, repository
from tests.test_git_remote import cache_folder, deployctl, publish

CONCURRENT, ROUNDS = 4, 10


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitHttpServer]:
    publish(repository(tmp_path / "work", ["a", "b"]), tmp_path / "served")
    with GitHttpServer(tmp_path / "served") as running:
        yield running


def lock_of(state: Path, url: str) -> Path:
    """The lock beside the cache of ``url`` under the state folder ``state``."""
    return CachedRemote(url, state / "git", RemoteAuth()).folder.with_suffix(".lock")


def waits_on(process: subprocess.Popen[str], lock: Path) -> bool:
    """Whether ``process`` has ``lock`` open (it reached the lock), polled until it has or ends."""
    while process.poll() is None:
        try:
            if any(os.readlink(fd) == str(lock) for fd in Path(f"/proc/{process.pid}/fd").iterdir()):
                return True
        except OSError:
            continue  # a descriptor closed while it was read
    return False


def planned(process: subprocess.Popen[str]) -> tuple[bool, str]:
    out, err = process.communicate()
    return process.returncode in (0, 1), out + err  # 1: changes pending; warnings are in the plan


@pytest.mark.stress
def test_concurrent_plans_on_one_cold_cache_all_succeed(tmp_path: Path, server: GitHttpServer) -> None:
    failures: list[str] = []
    for round_ in range(ROUNDS):
        home = tmp_path / f"home-{round_}"
        home.mkdir()
        processes = [deployctl(home, "plan", server.url("flows.git")) for _ in range(CONCURRENT)]
        failures += [err for ok, err in map(planned, processes) if not ok or "cloned it again" in err]
    assert failures == [], failures


@pytest.mark.stress
def test_concurrent_plans_on_one_warm_cache_all_succeed(tmp_path: Path, server: GitHttpServer) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert planned(deployctl(home, "plan", server.url("flows.git")))[0]
    failures: list[str] = []
    for _ in range(ROUNDS):
        processes = [deployctl(home, "plan", server.url("flows.git")) for _ in range(CONCURRENT)]
        failures += [err for ok, err in map(planned, processes) if not ok or "cloned it again" in err]
    assert failures == [], failures


def test_a_held_lock_makes_another_process_wait_and_not_delete(tmp_path: Path, server: GitHttpServer) -> None:
    home, url = tmp_path / "home", server.url("flows.git")
    home.mkdir()
    assert planned(deployctl(home, "plan", url))[0]
    state = home / ".deployctl"  # the default state folder under HOME
    cache = cache_folder(state)
    (cache / "config").write_text("[[[ what a broken cache looks like to a reader\n")
    with cache_lock(lock_of(state, url), deadline=float("inf")):
        waiting = deployctl(home, "plan", url)
        assert waits_on(waiting, lock_of(state, url)), waiting.communicate()
        assert waiting.poll() is None and (cache / "config").read_text().startswith("[[[")
    ok, err = planned(waiting)
    assert ok, err
    assert "cloned it again" in err  # once the lock was free, and by the process holding it


def test_a_lock_held_past_the_deadline_is_a_transient_failure(tmp_path: Path, server: GitHttpServer) -> None:
    url = server.url("flows.git")
    remote = CachedRemote(url, tmp_path / "git", RemoteAuth(timeout=0.5))
    remote.update(follow_default_branch=True)
    before = sorted(p.name for p in remote.folder.rglob("*"))
    with cache_lock(lock_of(tmp_path, url), deadline=float("inf")):
        outcome: list[BaseException] = []
        thread = threading.Thread(target=lambda: _capture(remote, outcome))
        thread.start()
        thread.join()
    (error,) = outcome
    assert isinstance(error, GitFailed) and error.timed_out, error
    assert "another deployctl process is updating the git cache" in error.detail
    assert sorted(p.name for p in remote.folder.rglob("*")) == before


def _capture(remote: CachedRemote, outcome: list[BaseException]) -> None:
    try:
        remote.update(follow_default_branch=True)
    except GitFailed as exc:
        outcome.append(exc)


@pytest.mark.parametrize(
    "detail",
    [
        "error: cannot lock ref 'refs/heads/main': is at 1a2b but expected 3c4d",
        "fatal: Unable to create '/c/shallow.lock': File exists.",
        "error: could not lock config file config: File exists",
    ],
)
def test_what_git_says_of_another_writer_is_a_lock_clash(detail: str) -> None:
    assert is_lock_clash(detail)
    assert not is_lock_clash("fatal: bad config line 1 in file config")


def test_a_git_lock_held_outside_deployctl_is_transient_and_the_cache_stays(tmp_path: Path) -> None:
    """A git that deployctl does not run (an operator's, a detached gc) holds a ref lock."""
    work = repository(tmp_path / "work", ["a"])
    publish(work, tmp_path / "served")
    with GitHttpServer(tmp_path / "served") as running:
        url = running.url("flows.git")
        source = GitSource(SourceSpec(url), tmp_path / "state", {})
        source.snapshot()
        cache = cache_folder(tmp_path / "state")
        work.write(deployment_files("b")).commit("add b")
        work.git("push", "-q", "origin", "main")
        (cache / "refs" / "heads" / "main.lock").write_text("")
        with pytest.raises(SourceUnavailable, match="another git process is writing the cache") as caught:
            source.snapshot()
    assert caught.value.retryable and "cloned it again" not in str(caught.value)
    assert (cache / "refs" / "heads" / "main.lock").exists()  # the same cache, not a new clone
