"""Remote sources: clone cache, force-push, deleted branch, unreachable remote, secrets, crashes."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.app import App
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.controller_fixtures import GitDaemon, Published
from tests.gitrepo import GitRepo, deployment_files, repository
from tests.source_failure import check_unreachable_source_is_recorded_then_cleared

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.resolve(home=str(tmp_path / "state"), env={})


def publish(work: GitRepo, remote: Path) -> str:
    """Make ``remote`` a bare clone of ``work`` and point work's origin at it."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    work.git("remote", "add", "origin", str(remote))
    work.git("push", "-q", "origin", "--all")
    return remote.as_uri()


def sync(settings: Settings, url: str, ref: str | None = None, **options: object) -> SyncResult:
    return App(settings).reconciler(SourceSpec(url, ref)).reconcile_once(SyncOptions(**options))  # type: ignore[arg-type]


def deployment_ids(settings: Settings) -> list[str]:
    with sqlite3.connect(settings.home / "registry.db") as db:
        return sorted(r[0] for r in db.execute("SELECT id FROM deployments"))


def deployctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_url_source_is_cloned_once_then_fetched(tmp_path: Path, settings: Settings) -> None:
    work = repository(tmp_path / "work", ["a"])
    url = publish(work, tmp_path / "remote.git")
    assert sync(settings, url).ok
    caches = list((settings.home / "git").iterdir())
    work.write(deployment_files("b")).commit("add b")
    work.git("push", "-q", "origin", "main")
    result = sync(settings, url)
    assert result.ok and deployment_ids(settings) == ["etl/a", "etl/b"]
    assert list((settings.home / "git").iterdir()) == caches
    assert sync(settings, url).up_to_date


def test_force_push_is_refused_until_allowed(tmp_path: Path, settings: Settings) -> None:
    work = repository(tmp_path / "work", ["a", "b"])
    url = publish(work, tmp_path / "remote.git")
    sync(settings, url)
    work.git("checkout", "-q", "--orphan", "rewritten")
    work.write(deployment_files("c")).commit("rewritten history")
    work.git("push", "-q", "--force", "origin", "rewritten:main")
    result = sync(settings, url)
    assert not result.ok and result.error is not None and "was rewritten (force-push?)" in result.error
    assert deployment_ids(settings) == ["etl/a", "etl/b"]
    assert sync(settings, url, allow_rewind=True, allow_empty=True, force_prune=True).ok
    assert "etl/c" in deployment_ids(settings)


def test_deleted_branch_changes_nothing(tmp_path: Path, settings: Settings) -> None:
    work = repository(tmp_path / "work", ["a"])
    work.git("branch", "feature")
    url = publish(work, tmp_path / "remote.git")
    assert sync(settings, url, ref="feature").ok
    work.git("push", "-q", "origin", "--delete", "feature")
    result = sync(settings, url, ref="feature")
    assert not result.ok and result.error is not None
    assert "ref 'feature' does not exist" in result.error and "nothing was changed" in result.error
    assert deployment_ids(settings) == ["etl/a"]


def test_unreachable_remote_is_an_error_not_an_empty_repository(tmp_path: Path, settings: Settings) -> None:
    work = repository(tmp_path / "work", ["a"])
    remote = tmp_path / "remote.git"
    url = publish(work, remote)
    sync(settings, url)
    remote.rename(tmp_path / "gone.git")
    result = sync(settings, url)
    assert not result.ok and result.error is not None and result.error.startswith("cannot fetch")
    assert deployment_ids(settings) == ["etl/a"]


def test_corrupt_cache_is_repaired_by_the_next_fetch(tmp_path: Path, settings: Settings) -> None:
    work = repository(tmp_path / "work", ["a"])
    url = publish(work, tmp_path / "remote.git")
    sync(settings, url)
    (cache,) = (p for p in (settings.home / "git").iterdir() if p.is_dir())
    for objects in (cache / "objects").iterdir():
        if objects.name not in ("info", "pack"):
            for item in objects.iterdir():
                item.write_bytes(b"garbage")
    (cache / "packed-refs").unlink(missing_ok=True)
    (cache / "refs" / "heads" / "main").write_text("0" * 40 + "\n")
    result = sync(settings, url)
    assert result.ok, result.error
    assert result.revision == work.git("rev-parse", "HEAD")
    assert deployment_ids(settings) == ["etl/a"]


def test_credentials_never_appear_in_output_or_database(tmp_path: Path) -> None:
    state = tmp_path / "state"
    secret_url = "https://deploy-bot:s3cr3t-pa55@127.0.0.1:9/team/flows.git"
    for output in ("text", "json"):
        done = deployctl(
            "--home",
            str(state),
            "sync",
            secret_url,
            "-o",
            output,
            env={"DEPLOYCTL_GIT_TOKEN": "tok-XYZ-123"},
        )
        assert done.returncode == 2
        combined = done.stdout + done.stderr
        assert "s3cr3t" not in combined and "tok-XYZ-123" not in combined
        assert "https://***@127.0.0.1:9/team/flows.git" in combined
    with sqlite3.connect(state / "registry.db") as db:
        dump = "\n".join(db.iterdump())
    assert "s3cr3t" not in dump and "tok-XYZ-123" not in dump


KILLER = """
import os, sys, time
from controller.adapters.sqlite import registry
original = registry.store_record_details
def stalled_after_the_deployment_rows(*args, **kwargs):
    # inside the apply transaction: deployments and schedules written, inventory and status not
    original(*args, **kwargs)
    print("HALFWAY", flush=True)
    time.sleep(60)
registry.store_record_details = stalled_after_the_deployment_rows
from controller.cli import main
main(sys.argv[1:])
"""


def test_sigkill_during_apply_leaves_a_consistent_registry(tmp_path: Path) -> None:
    work = repository(tmp_path / "work", ["a", "b"])
    state = tmp_path / "state"
    assert deployctl("--home", str(state), "sync", str(work.root)).returncode == 0
    for name in ("c", "d", "e", "f"):
        work.write(deployment_files(name))
    work.write(deployment_files("a", cron="9 * * * *")).commit("four more, a changed")
    process = subprocess.Popen(
        [sys.executable, "-c", KILLER, "--home", str(state), "sync", str(work.root)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "HALFWAY"
    process.send_signal(signal.SIGKILL)
    process.wait()
    with sqlite3.connect(state / "registry.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert sorted(r[0] for r in db.execute("SELECT id FROM deployments")) == ["etl/a", "etl/b"]
        assert (
            "'0 * * * *'" not in db.execute("SELECT record FROM deployments WHERE id='etl/a'").fetchone()[0]
        )
    done = deployctl("--home", str(state), "sync", str(work.root))
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(state / "registry.db") as db:
        assert sorted(r[0] for r in db.execute("SELECT id FROM deployments")) == [
            "etl/a",
            "etl/b",
            "etl/c",
            "etl/d",
            "etl/e",
            "etl/f",
        ]
        assert '"9 * * * *"' in db.execute("SELECT record FROM deployments WHERE id='etl/a'").fetchone()[0]


def test_an_unreachable_source_is_recorded_in_status_and_cleared_by_the_next_fetch(
    tmp_path: Path, settings: Settings
) -> None:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served").start()
    try:
        published = Published(tmp_path, daemon)
        check_unreachable_source_is_recorded_then_cleared(
            published,
            daemon,
            lambda: sync(settings, published.url, owner="flows"),
            App(settings).registry,
            "flows",
            deployment_files("first"),
        )
    finally:
        daemon.stop()
