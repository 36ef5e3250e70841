"""``run_controller``: the long-running process around the loop, from start-up to a clean exit.

Start-up: open the HTTP port, learn the owner (a dry run, which writes nothing), take the
lease keeper and the loop threads up. Shutdown on SIGTERM/SIGINT: the loop finishes its pass
(or, past the grace period, the pass is abandoned: the registry applies a plan in one
transaction, so an unfinished one is rolled back), the engine drains, the lease is released so
a standby takes over at once, and the process exits 0. Called by the CLI's ``controller`` command.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler
from typing import Any

from controller.engine.reconciler import SyncOptions, SyncResult
from controller.errors import DeployctlError
from controller.ports import Notifier
from controller.runtime.controlling.event_intake import EventIntake
from controller.runtime.controlling.leadership import LeaseKeeper
from controller.runtime.controlling.loop import ControllerLoop, LoopConfig, LoopState
from controller.runtime.controlling.metrics import ControllerMetrics
from controller.runtime.controlling.policy import Outcome, Timing
from controller.runtime.controlling.ports import Engine, HoldReader, OwnerControl, Reconcile, RemoteWatch
from controller.runtime.controlling.webhooks import Verdict, judge
from controller.runtime.http_server import ControllerHTTPServer
from controller.services.feedback import notify_pass

log = logging.getLogger("deployctl.controller")
CANNOT_GO_ON = 2  # the CLI's code for any error (1 is `plan`'s "changes pending")


def default_holder() -> str:
    """A lease holder id unique to this process: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class ControllerParts:
    source: RemoteWatch
    reconciler: Reconcile
    open_control: Callable[[str], OwnerControl]  # owner -> its lease and flags, held as this process
    engine: Engine | None = None
    status_report: Callable[[str], Any] | None = None  # the `deployctl status` document of one owner
    notifier: Notifier | None = None  # told how each pass ended; drained at shutdown
    holds: HoldReader | None = None  # the owner's hold (deployctl rollback), read at every check
    pages: Callable[[BaseHTTPRequestHandler], None] | None = None  # the status pages, served at /
    events: EventIntake | None = None  # POST /api/events (the embedded registry)


@dataclass(frozen=True)
class ControllerSettings:
    options: SyncOptions = SyncOptions()
    timing: Timing = Timing()
    drift: str = "restore"
    listen: tuple[str, int] = ("127.0.0.1", 8080)
    lease_seconds: float = 15.0
    grace: float = 30.0
    webhook_secret: str | None = None
    liveness: float | None = None  # seconds without a tick before /healthz fails [3 x interval + 120]
    ref: str | None = None  # the watched ref, for webhooks until the first pass names it
    client_timeout: float = 10.0  # seconds an HTTP client may take to send its request

    def liveness_limit(self) -> float:
        """Seconds without a tick before /healthz fails."""
        return self.liveness or 3 * self.timing.interval + 120

    def git_timeout(self) -> float:
        """The most one git step may take. A pass holds two (the remote check, then the fetch)
        and keeps a third of the limit for the rest, so a silent remote is a failing pass in
        /readyz long before /healthz would call the process dead (300 s of git at
        ``--interval 5`` had Kubernetes restart the pod in a loop)."""
        return self.liveness_limit() / 3


def run_controller(
    parts: ControllerParts,
    settings: ControllerSettings,
    stop: threading.Event | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> int:
    stop = stop or _stop_on_signals()
    controller = Controller(parts, settings)
    server = ControllerHTTPServer(settings.listen, controller, settings.client_timeout)
    server.pages = parts.pages
    server.start()
    log.info("listening on %s", server.url)
    if on_listening:
        on_listening(server.url)
    worker = threading.Thread(target=controller.work, args=(stop,), name="controller-loop", daemon=True)
    worker.start()
    stop.wait()
    if controller.failure:
        server.stop()
        return CANNOT_GO_ON
    log.info("stopping: finishing the current pass (grace %.0f s)", settings.grace)
    controller.wake()
    worker.join(settings.grace)
    if worker.is_alive():
        log.warning("the pass did not finish within the grace period: abandoned, its transaction rolled back")
    controller.shut_down()
    server.stop()
    return 0


class Controller:
    """The loop's owner, and the ``ControllerView`` the HTTP server reads."""

    def __init__(self, parts: ControllerParts, settings: ControllerSettings) -> None:
        self.parts, self.settings = parts, settings
        self.metrics = ControllerMetrics()
        self.loop: ControllerLoop | None = None
        self.keeper: LeaseKeeper | None = None
        self._keeper_stop = threading.Event()
        self._engine_started = False
        self._heartbeat = time.monotonic()
        self._error: str | None = None
        self.failure: str | None = None
        if parts.engine is not None:
            self.metrics.watch_flow_runs(parts.engine.runs_by_state)

    def work(self, stop: threading.Event) -> None:
        try:
            self._work(stop)
        except Exception as exc:  # reported, and the process exits 2 rather than hang unready
            self.failure = str(exc)
            log.error("the controller cannot go on: %s", exc, exc_info=not isinstance(exc, DeployctlError))
            stop.set()

    def _work(self, stop: threading.Event) -> None:
        owner = self._resolve_owner(stop)
        if owner is None:
            return
        control = self.parts.open_control(owner)
        state = LoopState(owner, last_tick=time.monotonic())  # alive from its start, not from its first tick
        config = LoopConfig(self.settings.options, self.settings.timing, self.settings.drift)
        keeper = LeaseKeeper(control, self.settings.lease_seconds, self.wake, self.refresh)
        loop = ControllerLoop(
            state,
            self.parts.source,
            self.parts.reconciler,
            keeper,
            control,
            config,
            self.metrics,
            time.monotonic,
            feedback=self._feedback,
            holds=self.parts.holds,
        )
        loop.on_active = self._start_engine
        keeper.renew()  # the first step knows its role: a lone controller never shows as standby
        self.keeper, self.loop = keeper, loop
        threading.Thread(
            target=keeper.run, args=(self._keeper_stop,), name="lease-keeper", daemon=True
        ).start()
        loop.run(stop)

    def _resolve_owner(self, stop: threading.Event) -> str | None:
        """The owner of the source, from a dry run (nothing is written), retried with backoff."""
        options, rng, failures = self.settings.options, random.Random(), 0
        while not stop.is_set():
            self._heartbeat = time.monotonic()
            if options.owner:
                return options.owner
            try:
                result = self.parts.reconciler.reconcile_once(replace(options, dry_run=True))
                if result.revision is not None:
                    return result.owner
                self._error = result.error
            except DeployctlError as exc:
                self._error = str(exc)
            failures += 1
            log.warning("cannot read the source yet (%s); retrying", self._error)
            stop.wait(self.settings.timing.backoff(failures, rng))
        return None

    def _feedback(self, result: SyncResult, outcome: Outcome, drift: bool) -> None:
        if self.parts.notifier is not None:
            notify_pass(self.parts.notifier, result, outcome.value, drift)

    def _start_engine(self) -> None:
        if self.parts.engine is not None and not self._engine_started:
            self._engine_started = True
            self.parts.engine.start()

    def wake(self) -> None:
        if self.loop is not None:
            self.loop.wake.set()

    def refresh(self) -> None:
        if self.loop is not None:
            self.loop.request_refresh()

    def shut_down(self) -> None:
        if self._engine_started and self.parts.engine is not None:
            self.parts.engine.drain()
        self._keeper_stop.set()
        if self.keeper is not None:
            self.keeper.release()
        if self.parts.notifier is not None:
            self.parts.notifier.close()

    # -- ControllerView ----------------------------------------------------------------------

    def healthy(self) -> tuple[bool, str]:
        limit = self.settings.liveness_limit()
        last = self.loop.state.last_tick if self.loop else self._heartbeat
        age = time.monotonic() - last
        return (
            age <= limit,
            f"last tick {age:.0f} s ago" + ("" if age <= limit else f" (limit {limit:.0f} s)"),
        )

    def readiness(self) -> tuple[bool, str]:
        if self.loop is None:
            return False, f"starting: {self._error}" if self._error else "starting"
        state = self.loop.state
        if state.role == "standby":
            return True, "standby"  # fit to take over and to take webhooks, which it relays
        if state.failures:  # a slow or unreachable source: the process itself is alive
            return False, f"source failing ({state.failures} in a row): {state.last_error}"
        if not state.ready:
            return False, "active, first pass not completed"
        if state.held is not None:
            return True, f"held at {state.held.revision[:12]}"
        return True, "suspended" if state.suspended else "ready"

    def status_document(self) -> dict[str, Any]:
        if self.loop is None:
            return {"controller": {"role": "starting", "last_error": self._error}, "sources": []}
        report = self.parts.status_report(self.loop.state.owner) if self.parts.status_report else []
        return {"controller": self.loop.describe(), "sources": report}

    def metrics_text(self) -> bytes:
        return self.metrics.render()

    def webhook(self, provider: str, headers: dict[str, str], body: bytes) -> Verdict:
        watched = self.loop.state.last_result.ref if self.loop and self.loop.state.last_result else None
        verdict = judge(provider, headers, body, self.settings.webhook_secret, watched or self.settings.ref)
        self.metrics.webhooks.labels(provider, verdict.result).inc()
        if verdict.refresh:
            self._relay_refresh()
        return verdict

    def post_events(self, headers: dict[str, str], body: bytes) -> Verdict:
        if self.parts.events is None:
            verdict = Verdict(404, "unsupported", "events are the embedded registry's (Prefect has its own)")
        else:
            verdict = self.parts.events.receive(headers, body)
        self.metrics.webhooks.labels("events", verdict.result).inc()
        return verdict

    def webhook_refused(self, provider: str, result: str) -> None:
        self.metrics.webhooks.labels(provider, result).inc()

    def _relay_refresh(self) -> None:
        if self.loop is None:
            return  # the first pass comes anyway
        if self.loop.state.role == "active":
            self.loop.request_refresh()
        else:
            try:
                self.loop.control.request_refresh()  # the active controller's lease keeper picks it up
            except DeployctlError as exc:
                log.warning("cannot relay the webhook to the active controller: %s", exc)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
