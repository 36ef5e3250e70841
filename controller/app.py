"""Composition root: the only module that names concrete adapter classes.

From the settings it builds the git source, the registry backend, the run store (only where
the backend runs flows itself), artifact storage, the reconciler and the engine loops, and
hands them to the services. A new backend is a new adapter plus a branch in ``open_registry``.
Called by the CLI, the Python API and the controller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controller.errors import ConfigError, Unsupported
from controller.ports import ArtifactStore, Registry, RunStore, SourceSpec
from controller.settings import SQLITE_PREFIX, Settings

# Adapters and the engine are imported where used, so that `deployctl --help` starts at once.
if TYPE_CHECKING:
    from controller.engine.reconciler import Reconciler
    from controller.runtime.controlling.ports import OwnerControl
    from controller.runtime.controlling.service import ControllerParts
    from controller.runtime.loops import LoopSettings
    from controller.runtime.runner import RunnerConfig
    from controller.services.deployments import Deployments
    from controller.services.engine_runs import RemoteRuns
    from controller.services.queues import Queues
    from controller.services.runs import Runs


@dataclass
class App:
    """Everything one command needs, built on first use from ``settings``."""

    settings: Settings
    _registry: Registry | None = field(default=None, repr=False)
    _create: bool = field(default=True, repr=False)

    @property
    def embedded(self) -> bool:
        return self.settings.registry_url.startswith(SQLITE_PREFIX)

    def reading_only(self) -> App:
        """For commands that only read: an embedded registry that does not exist is reported
        (``NotFound``, naming its path) instead of created with its folders."""
        self._create = False
        return self

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = open_registry(self.settings, self._create)
        return self._registry

    def run_store(self, purpose: str = "this command") -> RunStore:
        """The embedded engine's runs; refused for a registry whose own engine runs flows."""
        self.registry()  # an unusable registry URL is reported as such first
        if not self.embedded:
            raise Unsupported(
                f"{purpose}: only with the embedded registry; {self.settings.registry_url} schedules and "
                "runs flows itself (Prefect's scheduler and workers)"
            )
        from controller.adapters.registry.sqlite_runs import SqliteRunStore

        return SqliteRunStore(_sqlite_path(self.settings.registry_url))

    def storage(self) -> ArtifactStore:
        from controller.adapters.storage import open_storage

        return open_storage(self.settings.storage_url)

    @property
    def runs_triggers(self) -> bool:
        """Whether the configured registry fires triggers, as its class states: known without
        opening it (``validate`` works offline)."""
        url = self.settings.registry_url
        if url.startswith(SQLITE_PREFIX):
            from controller.adapters.registry.sqlite import SqliteRegistry

            return SqliteRegistry.runs_triggers
        if url == "prefect" or url.startswith("prefect+"):
            from controller.adapters.registry.prefect_registry import PrefectRegistry

            return PrefectRegistry.runs_triggers
        return True  # an unknown URL is refused where a registry is opened

    def reconciler(self, source: SourceSpec, git_timeout: float = float("inf")) -> Reconciler:
        """``git_timeout`` caps the deadline of each git step (the controller's is under its liveness)."""
        from controller.adapters.git_source import GitSource
        from controller.engine.desired import DesiredStateBuilder
        from controller.engine.reconciler import Reconciler

        registry = self.registry()
        return Reconciler(
            source=GitSource(source, self.settings.home, timeout_cap=git_timeout),
            registry=registry,
            store=self.storage(),
            builder=DesiredStateBuilder(runs_triggers=registry.runs_triggers),
        )

    def deployments(self) -> Deployments:
        from controller.services.deployments import Deployments

        return Deployments(self.registry())

    def runs(self, purpose: str = "flow runs") -> Runs:
        from controller.services.runs import Runs

        return Runs(self.run_store(purpose))

    def run_service(self, purpose: str) -> Runs | RemoteRuns:
        """Runs of this registry's engine: the embedded runner's, or the Prefect server's."""
        if self.embedded:
            return self.runs(purpose)
        from controller.adapters.registry.prefect_registry import PrefectRegistry
        from controller.adapters.registry.prefect_runs import PrefectRuns
        from controller.services.engine_runs import RemoteRuns

        registry = self.registry()
        if not isinstance(registry, PrefectRegistry):
            raise Unsupported(f"{purpose} is not supported by {self.settings.registry_url}")
        return RemoteRuns(PrefectRuns(registry.client))

    def queues(self) -> Queues:
        from controller.services.queues import Queues

        return Queues(self.run_store("work queues"))

    def runner_config(self, queues: tuple[str, ...] = (), limit: int = 4, **extra: object) -> RunnerConfig:
        from controller.runtime.runner import RunnerConfig

        return RunnerConfig(self.settings.home / "runs", list(queues) or None, limit, **extra)  # type: ignore[arg-type]

    def loop_settings(
        self,
        scheduler: bool,
        runner: RunnerConfig | None,
        scheduler_interval: float = 10.0,
        poll: float = 1.0,
        grace: float = 30.0,
    ) -> LoopSettings:
        from controller.adapters.storage import read_artifact
        from controller.runtime.loops import LoopSettings

        self.run_store("the scheduler and the runner").close()
        return LoopSettings(
            lambda: self.run_store(),
            read_artifact,
            scheduler,
            runner,
            scheduler_interval,
            poll,
            timedelta(seconds=grace),
        )

    def controller_parts(
        self, source: SourceSpec, lease_seconds: float, engine: bool, git_timeout: float = float("inf")
    ) -> ControllerParts:
        """The continuous controller's parts: remote check, reconciler, lease, engine, status.

        The embedded registry also runs the scheduler and runner (``engine``); against a Prefect
        server the controller only reconciles, since Prefect's own services run the flows.
        ``git_timeout`` caps every git step, so that a silent remote fails a pass in time."""
        from controller.adapters.git_remote_head import RemoteHead
        from controller.runtime.controlling.engine import EngineThread
        from controller.runtime.controlling.service import ControllerParts, default_holder

        loops, store = None, None
        if self.embedded:
            from controller.adapters.registry.sqlite_lease import SqliteOwnerControl

            database, holder = _sqlite_path(self.settings.registry_url), default_holder()

            def open_control(owner: str) -> OwnerControl:
                return SqliteOwnerControl(database, owner, holder, lease_seconds)

            if engine:
                loops = self.loop_settings(True, self.runner_config())
                store = self.run_store("the controller's engine")
        else:
            import os

            from controller.adapters.registry.prefect_control import open_prefect_control

            url = self.settings.registry_url

            def open_control(owner: str) -> OwnerControl:
                return open_prefect_control(url, os.environ, owner, lease_seconds)

        return ControllerParts(
            source=RemoteHead(source, self.settings.home, timeout_cap=git_timeout),
            reconciler=self.reconciler(source, git_timeout),
            open_control=open_control,
            engine=EngineThread(loops, store.count_by_state) if loops and store else None,
            status_report=self._status_document,
        )

    def _status_document(self, owner: str) -> list[dict[str, Any]]:
        """``deployctl status --owner OWNER -o json``; its own connection (the HTTP server is threaded)."""
        from controller.services.status import source_reports

        registry = open_registry(self.settings)
        try:
            return [report.to_json() for report in source_reports(registry, owner)]
        finally:
            registry.close()

    def set_suspended(self, owner: str, suspended: bool) -> None:
        if self.embedded:
            from controller.adapters.registry.sqlite_lease import set_suspended

            self.run_store("deployctl suspend and resume").close()  # migrated before the write
            set_suspended(_sqlite_path(self.settings.registry_url), owner, suspended)
            return
        import os

        from controller.adapters.registry.prefect_control import set_suspended as set_suspended_on_server

        set_suspended_on_server(self.settings.registry_url, os.environ, owner, suspended)

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None


def open_registry(settings: Settings, create: bool = True) -> Registry:
    url = settings.registry_url
    if url.startswith(SQLITE_PREFIX):
        from controller.adapters.registry.sqlite import SqliteRegistry

        return SqliteRegistry(_sqlite_path(url), create)
    if url.startswith("sqlite:"):
        raise ConfigError(f"registry URL {url!r}: use sqlite:///PATH (three slashes, then the path)")
    if url == "prefect" or url.startswith("prefect+"):
        import os

        from controller.adapters.registry.prefect_registry import open_prefect_registry

        return open_prefect_registry(url, os.environ)
    raise ConfigError(
        f"registry URL {url!r} is not supported: use sqlite:///PATH, prefect, "
        "prefect+http://HOST:PORT/api or prefect+https://HOST/api (the default is "
        f"{SQLITE_PREFIX}{settings.home / 'registry.db'})"
    )


def _sqlite_path(url: str) -> Path:
    from controller.adapters.registry.sqlite import parse_sqlite_url

    return parse_sqlite_url(url)
