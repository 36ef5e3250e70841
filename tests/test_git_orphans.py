"""Stopping deployctl stops its git children (issue 26 item 6).

A ``deployctl sync`` of a URL served by a silent TCP server on loopback (it accepts and never
answers) hangs in ``git clone``; SIGTERM or Ctrl-C (SIGINT) to deployctl must take the clone
and its remote helper with it. Real processes, found through /proc by the URL in their
command line, since git runs in a session of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.githttp import StallingServer

pytestmark = pytest.mark.controller


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word."""
    with StallingServer() as server:
        yield server.port


def processes_naming(text: str) -> list[tuple[int, str]]:
    """Live processes (not zombies) whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in argv and state != "Z":
            found.append((int(entry.name), argv))
    return found


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.parametrize("scheme", ["http", "git"])
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_stopping_a_sync_kills_its_git_clone(
    tmp_path: Path, silent_port: int, scheme: str, stop: int
) -> None:
    url = f"{scheme}://127.0.0.1:{silent_port}/silent-{stop}.git"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}
    sync = subprocess.Popen(
        [sys.executable, "-m", "controller", "sync", url],
        env={**env, "HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        git = lambda: [p for p in processes_naming(url) if p[0] != sync.pid]  # noqa: E731
        assert wait_for(lambda: git() and sync.poll() is None, 60), "git never started against the server"
        sync.send_signal(stop)
        code = sync.wait(timeout=30)
        left = git()
        assert wait_for(lambda: not git(), 5), f"git children outlived deployctl: {left}"
        assert code == (143 if stop == signal.SIGTERM else 130), sync.stderr.read() if sync.stderr else ""
    finally:
        if sync.poll() is None:
            sync.kill()
        for pid, _ in processes_naming(url):  # never leave them behind, even when the test fails
            os.kill(pid, signal.SIGKILL)
