"""Helpers for engine tests: a synced repository of small flows, a run store, a runner."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.storage import read_artifact
from controller.app import App
from controller.core.runs import FlowRun
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.runtime.runner import Runner, RunnerConfig
from controller.settings import Settings
from tests.gitrepo import GitRepo

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def manifest(name: str, entry: str, extra: str = "") -> str:
    return f"name: {name}\nflow_name: {name}\nentrypoint: flows.py:{entry}\nwork_queue_name: default\n{extra}"


@dataclass
class Engine:
    repo: GitRepo
    settings: Settings
    store: SqliteRunStore

    def sync(self) -> None:
        result = App(self.settings).reconciler(SourceSpec(str(self.repo.root))).reconcile_once(SyncOptions())
        assert result.ok, (result.error, [str(d) for d in result.diagnostics])

    def runner(self, **config: object) -> Runner:
        config_ = RunnerConfig(self.settings.home / "runs", **config)  # type: ignore[arg-type]
        return Runner(SqliteRunStore(self.store.path), config_, read_artifact)

    def run(self, run_id: str) -> FlowRun:
        found = self.store.get(run_id)
        assert found is not None
        return found


def make_engine(root: Path, files: dict[str, str]) -> Engine:
    repo = GitRepo(root / "repo")
    repo.write(files).commit("flows")
    settings = Settings.resolve(home=str(root / "state"), env={})
    engine = Engine(repo, settings, SqliteRunStore.__new__(SqliteRunStore))
    engine.sync()
    engine.store = SqliteRunStore(settings.home / "registry.db")
    return engine


def finish(runner: Runner, run_id: str, now: datetime, timeout: float = 60) -> None:
    """Wait for the run's process to exit (an event, not a timer), then let the runner record it."""
    deadline = time.monotonic() + timeout
    runner.tick(now)
    while run_id in runner.running:
        assert time.monotonic() < deadline, f"run {run_id} did not end within {timeout} s"
        runner.wake.wait(0.1)  # set when the flow's output closes
        runner.wake.clear()
        runner.tick(now)


def pgids(pgid: int) -> Iterator[int]:
    """Live processes of a process group, from /proc."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                yield int(entry.name)
