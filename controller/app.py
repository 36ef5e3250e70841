"""Composition root: the only module that names concrete adapter classes.

From the settings it picks the backend (``BACKENDS``, by the registry URL's scheme) and builds
the git source, artifact storage, the reconciler and the engine loops, and hands them to the
services. A new backend is a folder of ``controller.adapters`` with a ``Backend`` face, and one
line in ``BACKENDS``. Called by the CLI, the Python API and the controller.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from controller.core.history import Hold
from controller.errors import ConfigError, Unsupported
from controller.ports import (
    ArtifactStore,
    Backend,
    Capabilities,
    CommentThread,
    EventStore,
    HistoryStore,
    HoldStore,
    Notifier,
    Registry,
    RunStore,
    SourceSpec,
)
from controller.settings import SQLITE_PREFIX, Settings


class _Closable(Protocol):
    def close(self) -> None: ...


_Store = TypeVar("_Store", bound=_Closable)

# Adapters and the engine are imported where used, so that `deployctl --help` starts at once.
if TYPE_CHECKING:
    from controller.core.events import Event
    from controller.engine.reconciler import Reconciler
    from controller.loading.models.notifications import NotificationSettings
    from controller.runtime.controlling.event_intake import EventIntake
    from controller.runtime.controlling.service import ControllerParts
    from controller.runtime.events import EventPump, EventSettings
    from controller.runtime.loops import LoopSettings
    from controller.runtime.pages_http import Pages, PagesHTTPServer
    from controller.runtime.runner import RunnerConfig
    from controller.services.deployments import Deployments
    from controller.services.history import Rollback
    from controller.services.queues import Queues
    from controller.services.runs import FlowRuns, Runs


def _sqlite(url: str) -> Backend:
    from controller.adapters.sqlite.backend import SqliteBackend

    return SqliteBackend(url)


def _prefect(url: str) -> Backend:
    from controller.adapters.prefect.backend import PrefectBackend

    return PrefectBackend(url, os.environ)


BACKENDS: dict[str, Callable[[str], Backend]] = {"sqlite": _sqlite, "prefect": _prefect}
"""A registry URL's scheme (before ``:`` and ``+``) -> its backend: ``sqlite:///PATH``;
``prefect``, ``prefect+http://HOST:PORT/api``, ``prefect+https://…``."""


def open_backend(settings: Settings) -> Backend:
    """The backend the registry URL names; nothing is opened or connected yet."""
    url = settings.registry_url
    opener = BACKENDS.get(url.split(":", 1)[0].split("+", 1)[0])
    if opener is None:
        raise ConfigError(
            f"registry URL {url!r} is not supported: use sqlite:///PATH, prefect, "
            "prefect+http://HOST:PORT/api or prefect+https://HOST/api (the default is "
            f"{SQLITE_PREFIX}{settings.home / 'registry.db'})"
        )
    return opener(url)


def open_registry(settings: Settings, create: bool = True) -> Registry:
    return open_backend(settings).registry(create)


def _number(name: str, default: float) -> float:
    """A setting from the environment: a number not below 0, else a ``ConfigError`` naming it."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigError(f"{name}={raw!r}: give a number, 0 or more")
    return value


def parse_sqlite_url_of(url: str) -> Path:
    from controller.adapters.sqlite.registry import parse_sqlite_url

    return parse_sqlite_url(url)


@dataclass
class App:
    """Everything one command needs, built on first use from ``settings``."""

    settings: Settings
    _backend: Backend | None = field(default=None, repr=False)
    _opened: list[Any] = field(default_factory=list, repr=False)  # closed with the app
    _registry: Registry | None = field(default=None, repr=False)
    _create: bool = field(default=True, repr=False)
    _notifier: Notifier | None = field(default=None, repr=False)

    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = open_backend(self.settings)
        return self._backend

    @property
    def capabilities(self) -> Capabilities:
        """Known without opening the registry (``validate`` works offline)."""
        return self.backend().capabilities

    def reading_only(self) -> App:
        """For commands that only read: an embedded registry that does not exist is reported
        (``NotFound``, naming its path) instead of created with its folders."""
        self._create = False
        return self

    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self.backend().registry(self._create)
        return self._registry

    def run_store(self, purpose: str = "this command") -> RunStore:
        """deployctl's own engine's runs; refused for a backend whose own engine runs flows."""
        self.registry()  # an unusable registry URL is reported as such first
        store = self.backend().run_store()
        if store is None:
            raise Unsupported(
                f"{purpose}: only with the embedded registry; {self.settings.registry_url} schedules and "
                "runs flows itself (Prefect's scheduler and workers)"
            )
        return store

    def storage(self) -> ArtifactStore:
        from controller.adapters.storage import open_storage

        return open_storage(self.settings.storage_url)

    def reconciler(self, source: SourceSpec, git_timeout: float = float("inf")) -> Reconciler:
        """``git_timeout`` caps the deadline of each git step (the controller's is under its liveness)."""
        from controller.adapters.git.source import GitSource
        from controller.engine.desired import DesiredStateBuilder
        from controller.engine.reconciler import Reconciler
        from controller.services.history import PassRecorder

        reconciler = Reconciler(
            source=GitSource(source, self.settings.home, timeout_cap=git_timeout),
            registry=self.registry(),
            store=self.storage(),
            builder=DesiredStateBuilder.of(self.capabilities),
            history=self._closing(PassRecorder(self.backend().history, self.settings.history_limit)),
            holds=self._closing(self.backend().holds()),
        )
        if self._notifier is not None:  # the forges show a commit pending while it is written
            from functools import partial

            from controller.services.feedback import notify_writing

            reconciler.on_writing = partial(notify_writing, self._notifier)
        return reconciler

    def notifier(self) -> Notifier:
        """The receivers of the notification settings: the file ``DEPLOYCTL_NOTIFICATIONS`` names,
        else ``home/notifications.yaml`` when there is one; with no receiver, one that sends
        nothing. A file that cannot be read or used is a ``ConfigError``, before any pass. Built
        once; the reconcilers built after it tell it when a pass begins to write."""
        if self._notifier is None:
            self._notifier = self._open_notifier()
        return self._notifier

    def _open_notifier(self) -> Notifier:
        from controller.adapters.notify.null import NullNotifier

        found = self._notification_settings()
        if found is None:
            return NullNotifier()
        from controller.adapters.notify.ledger import Ledger
        from controller.adapters.notify.notifier import QueueNotifier
        from controller.adapters.notify.receivers import resolve_receivers

        path, settings = found
        receivers = resolve_receivers(settings, os.environ, str(path))
        if not receivers:
            return NullNotifier()
        ledger = Ledger(self.settings.home / "notifications-sent.json")
        return QueueNotifier.of(
            receivers, ledger, settings.attempts, settings.queue_size, settings.drain_seconds
        )

    def _notification_settings(self) -> tuple[Path, NotificationSettings] | None:
        """The notification settings file and what it holds; None when there is none."""
        path = self.settings.notifications or self.settings.home / "notifications.yaml"
        if self.settings.notifications is None and not os.path.lexists(path):
            return None  # without importing pydantic or the loader: a no-op sync stays quick
        # (one that is there but cannot be read, a folder or a broken link, is said below)
        from controller.loading.notification_settings import parse_notification_settings

        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot be read ({exc.strerror}); DEPLOYCTL_NOTIFICATIONS names the notification "
                "settings file"
            ) from None
        return path, parse_notification_settings(str(path), raw)

    def notification_secret_names(self) -> frozenset[str]:
        """The variables the notification receivers read URLs and keys from: no flow is given them."""
        found = self._notification_settings()
        receivers = found[1].receivers if found else []
        return frozenset(name for r in receivers for name in (r.url_env, r.secret_env) if name)

    def pull_request_comments(self, number: int | None = None) -> CommentThread:
        """The pull request (GitHub) or merge request (GitLab) the CI job runs for, from what the
        CI system sets; ``number`` wins over its event. ``ConfigError`` outside one."""
        from controller.adapters.notify.comments import PullRequestComments, pull_request_from_env

        return PullRequestComments(pull_request_from_env(os.environ, number))

    def deployments(self) -> Deployments:
        from controller.services.deployments import Deployments

        return Deployments(self.registry())

    def runs(self, purpose: str = "flow runs") -> Runs:
        from controller.services.runs import Runs

        return Runs(self.run_store(purpose))

    def run_service(self, purpose: str) -> FlowRuns:
        """Runs of this backend's engine: deployctl's own runner's, or those its workers run."""
        self.registry()  # an unusable registry URL is reported as such first
        remote = self.backend().engine_runs()
        if remote is None:
            return self.runs(purpose)
        from controller.services.engine_runs import RemoteRuns

        return RemoteRuns(remote)

    def queues(self) -> Queues:
        from controller.services.queues import Queues

        return Queues(self.run_store("work queues"))

    def runner_config(self, queues: tuple[str, ...] = (), limit: int = 4, **extra: object) -> RunnerConfig:
        from controller.runtime.runner import RunnerConfig

        extra.setdefault("secret_names", self.notification_secret_names())
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
            self._event_pump if scheduler else None,
        )

    def events_path(self) -> Path:
        """``events.db`` beside the embedded registry's file (``$DEPLOYCTL_HOME/events.db`` by default)."""
        if not self.capabilities.runs_flows_here:
            raise Unsupported(
                f"events: only with the embedded registry; on {self.settings.registry_url} events and "
                "automations are Prefect's own (prefect event, the Automations page)"
            )
        return parse_sqlite_url_of(self.settings.registry_url).parent / "events.db"

    def event_store(self) -> EventStore:
        from controller.adapters.sqlite.events import SqliteEventStore

        return SqliteEventStore(self.events_path())

    def recorded_events(self) -> EventStore | None:
        """For commands that only read: the event store if there is one (none is made)."""
        if not self.capabilities.runs_flows_here or not self.events_path().is_file():
            return None
        return self.event_store()

    def event_settings(self) -> EventSettings:
        """Retention and the trigger rate from ``DEPLOYCTL_EVENTS_RETENTION_DAYS`` (7),
        ``DEPLOYCTL_EVENTS_MAX`` (1,000,000) and ``DEPLOYCTL_TRIGGER_RATE`` (10 per minute)."""
        from controller.runtime.events import EventSettings

        defaults = EventSettings()
        return EventSettings(
            retention=timedelta(days=_number("DEPLOYCTL_EVENTS_RETENTION_DAYS", defaults.retention.days)),
            max_events=int(_number("DEPLOYCTL_EVENTS_MAX", defaults.max_events)),
            rate_limit=int(_number("DEPLOYCTL_TRIGGER_RATE", defaults.rate_limit)),
        )

    def _event_pump(self) -> EventPump:
        from controller.adapters.sqlite.state_feed import SqliteStateFeed
        from controller.runtime.events import EventPump

        settings = self.event_settings()
        path = parse_sqlite_url_of(self.settings.registry_url)
        return EventPump(SqliteStateFeed(path), self.event_store(), self.run_store(), settings)

    def controller_parts(
        self, source: SourceSpec, lease_seconds: float, engine: bool, git_timeout: float = float("inf")
    ) -> ControllerParts:
        """The continuous controller's parts: remote check, reconciler, lease, engine, status.

        Where deployctl runs the backend's flows itself (the embedded registry) the controller
        also runs the scheduler and runner (``engine``); against a Prefect server it only
        reconciles, since Prefect's own services run the flows. ``git_timeout`` caps every git
        step, so that a silent remote fails a pass in time."""
        from controller.adapters.git.remote_head import RemoteHead
        from controller.runtime.controlling.engine import EngineThread
        from controller.runtime.controlling.service import ControllerParts, default_holder

        backend, holder, notifier = self.backend(), default_holder(), self.notifier()
        thread, events = None, None
        if engine and backend.capabilities.runs_flows_here:
            store = self.run_store("the controller's engine")
            thread = EngineThread(self.loop_settings(True, self.runner_config()), store.count_by_state)
        if backend.capabilities.runs_flows_here:
            events = self._event_intake()
        return ControllerParts(
            source=RemoteHead(source, self.settings.home, timeout_cap=git_timeout),
            reconciler=self.reconciler(source, git_timeout),
            open_control=lambda owner: backend.owner_control(owner, holder, lease_seconds),
            engine=thread,
            holds=self._closing(backend.holds()),
            status_report=self._status_document,
            notifier=notifier,
            pages=self.pages().serve,
            events=events,
        )

    def _event_intake(self) -> EventIntake:
        """``POST /api/events``: each request stores through its own connection (the server is threaded)."""
        from controller.runtime.controlling.event_intake import EventIntake, load_events_token
        from controller.services.events import Events

        def ingest(body: bytes) -> list[Event]:
            store = self.event_store()
            try:
                return Events(store).ingest(body)
            finally:
                store.close()

        self.event_store().close()  # an unusable events file is reported at start-up
        return EventIntake(load_events_token(os.environ), ingest)

    def _status_document(self, owner: str) -> list[dict[str, Any]]:
        """``deployctl status --owner OWNER -o json``; its own connection (the HTTP server is threaded)."""
        from controller.services.status import source_reports

        registry, holds = self.backend().registry(), self.backend().holds()
        try:
            return [report.to_json() for report in source_reports(registry, owner, holds)]
        finally:
            registry.close()
            holds.close()

    def history(self) -> HistoryStore:
        """The passes of every owner, for reading (a missing embedded registry is ``NotFound``)."""
        return self._closing(self.backend().history(self._create))

    def holds(self) -> HoldStore:
        return self._closing(self.backend().holds(self._create))

    def rollback(self, owner: str, to: str, dry_run: bool = False, **flags: bool) -> Rollback:
        """``deployctl rollback OWNER --to REVISION``: apply it and hold the owner there.
        ``flags``: ``allow_empty``, ``force_prune``."""
        from controller.services.history import rollback

        self.reading_only()  # nothing to roll back where nothing was synced: create no registry
        registry, history, holds = self.registry(), self.history(), self.holds()
        done = rollback(owner, to, registry, history, holds, self.reconciler, dry_run, **flags)
        if done.result.ok and not dry_run:
            self._ask_refresh(owner)  # its controller reports the hold now, not at its next poll
        return done

    def release(self, owner: str) -> Hold | None:
        """``deployctl release OWNER``: follow the ref again; the controller is asked to look now."""
        from controller.services.history import release

        self.reading_only()  # nothing to release where nothing was synced
        hold = release(self.registry(), self.holds(), owner)
        if hold is not None:
            self._ask_refresh(owner)
        return hold

    def _ask_refresh(self, owner: str) -> None:
        """Ask the owner's controller, wherever it runs, to look at its source now."""
        control = self.backend().owner_control(owner, "cli", lease_seconds=0.0)
        try:
            control.request_refresh()
        finally:
            control.close()

    def pages(self) -> Pages:
        """The read-only status pages of this registry (``deployctl ui``, the controller's ``/``);
        ``DEPLOYCTL_UI_TOKEN`` opens them to a client of a non-loopback address."""
        from controller.adapters.web.rendering import PageRenderer
        from controller.core.redaction import short_secret
        from controller.runtime.pages_http import Pages
        from controller.services.pages import Site

        token = os.environ.get("DEPLOYCTL_UI_TOKEN") or None
        problem = short_secret("DEPLOYCTL_UI_TOKEN", token)
        if problem:
            raise ConfigError(problem)
        return Pages(Site(self.backend()), PageRenderer(), token)

    def pages_server(self, address: tuple[str, int]) -> PagesHTTPServer:
        """``deployctl ui``'s server; a non-loopback ``address`` without a token is a ``ConfigError``."""
        from controller.runtime.pages_http import PagesHTTPServer

        return PagesHTTPServer(address, self.pages())

    def set_suspended(self, owner: str, suspended: bool) -> None:
        """``deployctl suspend|resume OWNER``: applying stops or resumes at the controller's next tick."""
        control = self.backend().owner_control(owner, "cli", lease_seconds=0.0)
        try:
            control.set_suspended(suspended)
        finally:
            control.close()

    def _closing(self, store: _Store) -> _Store:
        """``store``, closed with the app."""
        self._opened.append(store)
        return store

    def close(self) -> None:
        if self._registry is not None:
            self._registry.close()
            self._registry = None
        while self._opened:
            self._opened.pop().close()
