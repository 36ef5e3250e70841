"""A pass with nothing to change records "applied" only if the registry is still what it read.

``sync --ref A --full`` that finds nothing to change and ``sync --ref B`` that applies race on
one registry. Whichever order they land in, the status never names A while the registry holds
B's deployments: the no-op's record goes through the apply's compare-and-swap, and a refused
record leaves the pass failed, so the next pass plans again. Deterministic first (B's sync is
made to land between the no-op's read and its record, through the ``Registry`` port), then a
few races of real ``deployctl`` processes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from controller.app import App
from controller.core.plan import Plan
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.ports import Application, Registry, SourceSpec
from controller.settings import Settings
from tests.gitrepo import GitRepo, deployment_files

pytestmark = pytest.mark.stress

BASE = [f"base{i}" for i in range(3)]


class RecordsAfter:
    """The real registry, but ``between`` runs once, right before a pass records a plan of no
    changes as applied: another sync lands between that pass's read and its record."""

    def __init__(self, registry: Registry, between: Callable[[], None]) -> None:
        self._registry = registry
        self._between: Callable[[], None] | None = between

    def record_status(self, app: Application, plan: Plan | None, applied: bool) -> bool:
        if applied and self._between is not None:
            between, self._between = self._between, None
            between()
        return self._registry.record_status(app, plan, applied)

    def __getattr__(self, name: str) -> object:
        return getattr(self._registry, name)


def siblings(root: Path) -> tuple[GitRepo, str, str]:
    """Branches ``a`` and ``b`` of one repository: the base deployments plus one of their own."""
    repo = GitRepo(root)
    for name in BASE:
        repo.write(deployment_files(name))
    repo.commit("base")
    commits = []
    for branch in ("a", "b"):
        repo.git("checkout", "-q", "-b", branch, "main")
        commits.append(repo.write(deployment_files(f"only-{branch}")).commit(f"add only-{branch}"))
    return repo, commits[0], commits[1]


def names_of(commit_ref: str) -> set[str]:
    return {f"etl/{n}" for n in BASE} | {f"etl/only-{commit_ref}"}


def registry_holds(db_path: Path) -> tuple[str | None, set[str]]:
    """The owner's last applied revision and the deployments the registry holds."""
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT last_applied_revision FROM sources WHERE owner = 'team'").fetchone()
        names = {r[0] for r in db.execute("SELECT id FROM deployments")}
    return (row[0] if row else None), names


def sync(
    settings: Settings,
    repo: GitRepo,
    ref: str,
    registry_between: Callable[[], None] | None = None,
    **options: bool,
) -> SyncResult:
    reconciler = App(settings).reconciler(SourceSpec(str(repo.root), ref))
    if registry_between is not None:
        reconciler = replace(reconciler, registry=RecordsAfter(reconciler.registry, registry_between))
    return reconciler.reconcile_once(SyncOptions(owner="team", **options))


def test_a_sync_landing_between_a_no_op_read_and_its_record_is_never_overwritten(tmp_path: Path) -> None:
    repo, commit_a, commit_b = siblings(tmp_path / "repo")
    settings = Settings.resolve(home=str(tmp_path / "home"), env={})
    assert sync(settings, repo, "a").ok
    landed: list[SyncResult] = []

    no_op = sync(settings, repo, "a", lambda: landed.append(sync(settings, repo, "b")), full=True)

    assert landed and landed[0].ok and landed[0].applied, landed
    assert no_op.plan is not None and not no_op.plan.has_changes, "the race needs a pass with nothing to do"
    assert not no_op.ok and not no_op.applied
    assert no_op.error and "changed while this plan was made" in no_op.error, no_op.error
    db = settings.home / "registry.db"
    assert registry_holds(db) == (commit_b, names_of("b")), "the status names a commit the registry lacks"
    again = sync(settings, repo, "a")  # the next pass plans again, without --full
    assert again.ok and again.applied and again.plan is not None and again.plan.has_changes
    assert registry_holds(db) == (commit_a, names_of("a"))


def test_a_no_op_pass_with_nothing_landing_between_still_records_applied(tmp_path: Path) -> None:
    repo, commit_a, _ = siblings(tmp_path / "repo")
    settings = Settings.resolve(home=str(tmp_path / "home"), env={})
    assert sync(settings, repo, "a").ok
    no_op = sync(settings, repo, "a", lambda: None, full=True)
    assert no_op.ok and no_op.applied, no_op.error
    assert registry_holds(settings.home / "registry.db") == (commit_a, names_of("a"))


TRIALS = 8


def test_racing_processes_never_leave_the_status_naming_the_other_commit(tmp_path: Path) -> None:
    repo, commit_a, commit_b = siblings(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(tmp_path)}
    home = tmp_path / "home"
    command = [sys.executable, "-m", "controller", "--home", str(home), "sync", str(repo.root)]
    expected = {commit_a: names_of("a"), commit_b: names_of("b")}
    for _ in range(TRIALS):
        reset = subprocess.run([*command, "--ref", "a", "--owner", "team"], env=env, capture_output=True)
        assert reset.returncode == 0, reset.stderr
        racing = [
            subprocess.Popen(
                [*command, *args, "--owner", "team"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for args in (["--ref", "a", "--full"], ["--ref", "b"])
        ]
        for process in racing:
            output = process.communicate(timeout=120)[0]
            assert process.returncode == 0 or "changed while this plan was made" in output, output
            assert "Traceback" not in output, output
        applied, names = registry_holds(home / "registry.db")
        assert applied is not None and names == expected[applied], (applied, sorted(names))
