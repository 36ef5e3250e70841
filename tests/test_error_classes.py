"""One error classification: the pass takes ``retryable`` from the error that failed it, and the
controller's policy reads that, so a stalled error raised mid-pass (``ConfigError``) waits for a
new commit while a transient one (``RegistryUnavailable``) is retried with backoff.

A real reconciler on a real git repository and SQLite registry; the fault is raised by the
embedded registry's ``apply`` (our own adapter, behind the ``Registry`` port)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.adapters.sqlite.registry import SqliteRegistry
from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.errors import ConfigError, DeployctlError, RegistryUnavailable
from controller.ports import SourceSpec
from controller.runtime.controlling.policy import Outcome, classify
from controller.settings import Settings
from tests.gitrepo import repository


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (RegistryUnavailable("the database is locked"), Outcome.TRANSIENT),
        (ConfigError("no pool"), Outcome.REFUSED),
    ],
)
def test_the_pass_carries_the_errors_class_to_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: DeployctlError, outcome: Outcome
) -> None:
    repo = repository(tmp_path / "repo", ["a"])

    def failing(*args: object) -> None:
        raise error

    monkeypatch.setattr(SqliteRegistry, "apply", failing)
    app = App(Settings.resolve(home=str(tmp_path / "home"), env={}))
    result = app.reconciler(SourceSpec(str(repo.root))).reconcile_once(SyncOptions())
    assert result.error == str(error) and result.retryable is error.retryable
    assert classify(result) is outcome
    app.close()
