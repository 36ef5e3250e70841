"""Remote sources over a real git HTTP server on loopback: credentials, timeouts, self-healing.

Credentials from a ``user:password@`` URL must never reach a command line or a file, a
changed password must work on the next fetch, and a later URL without credentials must not
reuse old ones. A stalled server must not hang a sync; a broken cache is cloned again once;
a renamed default branch is followed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.adapters.git.source import GitSource
from controller.app import App
from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.githttp import GitHttpServer, StallingServer
from tests.gitrepo import GitRepo, deployment_files, repository

ROOT = Path(__file__).resolve().parent.parent
PASSWORD, NEW_PASSWORD = "pw-Fh39xQ-first", "pw-Zk71mR-second"


def publish(work: GitRepo, served: Path, name: str = "flows.git") -> None:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(served / name)], check=True)
    work.git("remote", "add", "origin", str(served / name))
    work.git("push", "-q", "origin", "--all")


def deployctl(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(home)}
    command = [sys.executable, "-m", "controller", *args]
    return subprocess.Popen(
        command, cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def command_lines_while(process: subprocess.Popen[str]) -> list[str]:
    """Every command line seen on the machine until ``process`` ends (polled, not waited)."""
    seen: set[str] = set()
    while process.poll() is None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    seen.add((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace"))
                except OSError:
                    continue
    return sorted(seen)


def leaks(lines: list[str], secret: str) -> list[str]:
    """Command lines holding ``secret``, other than the deployctl command the user typed."""
    return [line for line in lines if secret in line and " -m controller sync " not in line]


def files_containing(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def sync_seen(home: Path, url: str) -> tuple[subprocess.Popen[str], list[str], str]:
    process = deployctl(home, "sync", url)
    lines = command_lines_while(process)
    _, err = process.communicate()
    return process, lines, err


def test_url_credentials_stay_off_command_lines_and_disk(tmp_path: Path) -> None:
    served, home = tmp_path / "served", tmp_path / "home"
    home.mkdir()
    publish(repository(tmp_path / "work", ["a"]), served)
    with GitHttpServer(served, credentials=("bot", PASSWORD)) as server:
        done, lines, err = sync_seen(home, server.url("flows.git", f"bot:{PASSWORD}"))
        assert done.returncode == 0, err
        assert any("git-remote-http" in line and "127.0.0.1" in line for line in lines), "no fetch observed"
        assert leaks(lines, PASSWORD) == []
        assert files_containing(home, PASSWORD) == []
        assert any(a.startswith("Basic ") for a in server.seen_authorizations)

        server.credentials = ("bot", NEW_PASSWORD)
        stale, _, err = sync_seen(home, server.url("flows.git", f"bot:{PASSWORD}"))
        assert stale.returncode == 2 and PASSWORD not in err, err
        changed, lines, err = sync_seen(home, server.url("flows.git", f"bot:{NEW_PASSWORD}"))
        assert changed.returncode == 0, err
        assert leaks(lines, NEW_PASSWORD) == []
        assert files_containing(home, NEW_PASSWORD) == []

        anonymous, _, err = sync_seen(home, server.url("flows.git"))
        assert anonymous.returncode == 2, "a URL without credentials reused the old ones"
        assert "cannot fetch" in err and NEW_PASSWORD not in err


def source_for(home: Path, url: str, ref: str | None = None, **environ: str) -> Reconciler:
    app = App(Settings.resolve(home=str(home), env={}))
    reconciler = app.reconciler(SourceSpec(url, ref))
    reconciler.source = GitSource(SourceSpec(url, ref), home, environ)
    return reconciler


def sync(reconciler: Reconciler) -> SyncResult:
    return reconciler.reconcile_once(SyncOptions())


@pytest.fixture
def served(tmp_path: Path) -> tuple[GitRepo, Path]:
    work = repository(tmp_path / "work", ["a"])
    publish(work, tmp_path / "served")
    return work, tmp_path / "served"


def cache_folder(home: Path) -> Path:
    (folder,) = [p for p in (home / "git").iterdir() if p.is_dir()]
    return folder


def corrupt_config(cache: Path) -> None:
    (cache / "config").write_text("[[[ not a config\n")


def half_cloned(cache: Path) -> None:
    """What a clone killed part-way leaves: a HEAD, some objects, no refs."""
    shutil.rmtree(cache / "refs")
    (cache / "packed-refs").unlink(missing_ok=True)


@pytest.mark.parametrize("damage", [corrupt_config, half_cloned])
def test_a_broken_cache_is_cloned_again_with_a_message(
    tmp_path: Path, served: tuple[GitRepo, Path], damage: Callable[[Path], None]
) -> None:
    work, root = served
    with GitHttpServer(root) as server:
        reconciler = source_for(tmp_path / "home", server.url("flows.git"))
        assert sync(reconciler).ok
        damage(cache_folder(tmp_path / "home"))
        work.write(deployment_files("b")).commit("add b")
        work.git("push", "-q", "origin", "main")
        result = sync(reconciler)
    assert result.ok, result.error
    assert any("cloned it again" in w for w in result.warnings), result.warnings
    assert result.revision == work.git("rev-parse", "HEAD")


def test_a_renamed_default_branch_is_followed(tmp_path: Path, served: tuple[GitRepo, Path]) -> None:
    work, root = served
    with GitHttpServer(root) as server:
        reconciler = source_for(tmp_path / "home", server.url("flows.git"))
        first = sync(reconciler)
        assert first.ok and first.ref == "main"
        work.git("branch", "-m", "main", "trunk")
        work.write(deployment_files("b")).commit("add b on trunk")
        work.git("push", "-q", "origin", "trunk")
        subprocess.run(
            ["git", "symbolic-ref", "HEAD", "refs/heads/trunk"], cwd=root / "flows.git", check=True
        )
        subprocess.run(["git", "branch", "-q", "-D", "main"], cwd=root / "flows.git", check=True)
        result = sync(reconciler)
    assert result.ok, result.error
    assert result.ref == "trunk" and result.owner == first.owner
    assert result.revision == work.git("rev-parse", "HEAD")


def test_a_stalled_server_fails_the_sync_within_its_deadline(tmp_path: Path) -> None:
    with StallingServer() as server:
        started = time.monotonic()
        result = sync(source_for(tmp_path / "home", server.url, DEPLOYCTL_GIT_TIMEOUT="2"))
        elapsed = time.monotonic() - started
    assert result.error is not None, result
    assert result.error.startswith(f"cannot fetch {server.url}: no answer within 2 s"), result.error
    assert elapsed < 20, f"a stalled server held the sync {elapsed:.0f} s"
