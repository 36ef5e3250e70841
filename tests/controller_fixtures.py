"""Real parts for the controller tests: a git daemon on loopback and a controller process.

The controller runs as its own process (``deployctl controller``); tests talk to it over HTTP
only and poll with deadlines, never fixed sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.gitrepo import ENV, GitRepo

SECRET = "s3cret-for-tests"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class GitDaemon:
    """``git daemon`` serving the bare repositories under ``base`` on a loopback port."""

    def __init__(self, base: Path) -> None:
        self.base, self.port = base, free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def start(self) -> GitDaemon:
        self.process = subprocess.Popen(
            ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={self.base}",
             "--listen=127.0.0.1", f"--port={self.port}", str(self.base)],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_for(self._answers, what="git daemon")
        return self

    def _answers(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)  # git daemon forks: take its whole group down
            self.process.wait()
            wait_for(lambda: not self._answers(), what="the git daemon to stop")
            self.process = None


class Published:
    """A working repository and the bare one it pushes to, which the daemon serves."""

    def __init__(self, tmp: Path, daemon: GitDaemon, name: str = "flows.git") -> None:
        self.bare = daemon.base / name
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(self.bare)], env=ENV, check=True)
        self.work = GitRepo(tmp / "work")
        self.work.git("remote", "add", "origin", str(self.bare))
        self.url = daemon.url(name)

    def push(self, files: dict[str, str], message: str = "change") -> str:
        commit = self.work.write(files).commit(message)
        self.work.git("push", "-q", "origin", "HEAD:main")
        return commit


class ControllerProcess:
    def __init__(self, source: str, home: Path, *args: str, secret: str = SECRET) -> None:
        env = {**os.environ, "DEPLOYCTL_WEBHOOK_SECRET": secret, "HOME": str(home.parent)}
        env.pop("DEPLOYCTL_HOME", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "controller", "--home", str(home), "controller", source,
             "--listen", "127.0.0.1:0", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip().removeprefix("listening on ")
        assert self.url.startswith("http://"), self.stderr()

    def stderr(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stderr is not None
        return self.process.stderr.read()

    def get(self, path: str) -> tuple[int, str]:
        return request(self.url + path)

    def status(self) -> dict[str, Any]:
        return json.loads(self.get("/api/status")[1])

    def controller(self) -> dict[str, Any]:
        return self.status()["controller"]

    def metric(self, name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(self.get("/metrics")[1]):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return float(sample.value)
        return 0.0

    def hook(self, provider: str, payload: dict[str, Any], headers: dict[str, str]) -> tuple[int, str]:
        return request(self.url + f"/hooks/{provider}", json.dumps(payload).encode(), headers)

    def github_push(self, ref: str = "refs/heads/main", secret: str = SECRET) -> tuple[int, str]:
        return self.github_hook(json.dumps({"ref": ref}).encode(), secret)

    def github_hook(self, body: bytes, secret: str = SECRET) -> tuple[int, str]:
        """A push event with ``body``, signed with ``secret`` as GitHub signs it."""
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": signature}
        return request(self.url + "/hooks/github", body, headers)

    def terminate(self, timeout: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def request(url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=body, headers=headers or {}, method="POST" if body is not None else "GET"
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
