"""The loops of the standalone engine: scheduler ticks (APScheduler) and the runner's poll loop.

``serve`` runs them in the foreground until SIGINT/SIGTERM, then shuts down gracefully:
stop claiming, let running flows finish within a grace period, cancel what is left, exit.
Used by ``deployctl up``, ``deployctl scheduler`` and ``deployctl runner``.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from controller.ports import ArtifactReader, RunStore
from controller.runtime.events import EventPump
from controller.runtime.runner import Heartbeat, Runner, RunnerConfig
from controller.runtime.scheduler import schedule_once

log = logging.getLogger("deployctl")


@dataclass(frozen=True)
class LoopSettings:
    open_store: Callable[[], RunStore]
    read_artifact: ArtifactReader
    run_scheduler: bool = True
    runner: RunnerConfig | None = None
    scheduler_interval: float = 10.0
    poll_interval: float = 1.0
    shutdown_grace: timedelta = timedelta(seconds=30)
    open_events: Callable[[], EventPump] | None = None  # events and triggers (the embedded registry)


def serve(
    settings: LoopSettings, stop: threading.Event | None = None, on_ready: Callable[[], None] | None = None
) -> None:
    stop = stop or _stop_on_signals()
    jobs = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1})
    runner = (
        Runner(settings.open_store(), settings.runner, settings.read_artifact) if settings.runner else None
    )
    if settings.run_scheduler:
        scheduler_store = settings.open_store()
        jobs.add_job(
            lambda: _schedule(scheduler_store),
            "interval",
            seconds=settings.scheduler_interval,
            next_run_time=datetime.now(UTC),
            id="scheduler",
        )
    jobs.start()
    pump_stop = threading.Event()  # after the drain, so that its last state changes are published
    pumping = _start_pump(settings, pump_stop)
    polling = threading.Thread(target=_poll, args=(runner, settings.poll_interval, stop), daemon=True)
    heartbeat = None
    if runner is not None:
        heartbeat = Heartbeat(runner, settings.open_store(), runner.config.heartbeat_interval).start()
        polling.start()
    if on_ready:
        on_ready()
    stop.wait()
    jobs.shutdown(wait=True)
    if runner is not None:
        polling.join()
        drain(runner, settings, heartbeat)
    pump_stop.set()
    if pumping is not None:
        pumping.join()


def _poll(runner: Runner, interval: float, stop: threading.Event) -> None:
    """Tick every ``interval``, and at once when a flow ends (its slot is free for the next run)."""
    while not stop.is_set():
        try:
            runner.tick()
        except Exception:  # a failed tick (database busy, disk full) must not end the runner
            log.exception("runner tick failed; retrying at the next poll")
        runner.wake.wait(interval)
        runner.wake.clear()


def _start_pump(settings: LoopSettings, stop: threading.Event) -> threading.Thread | None:
    if settings.open_events is None:
        return None
    pump = settings.open_events()
    pump.tick()  # before `on_ready`: every state change from then on is published
    thread = threading.Thread(target=_pump, args=(pump, stop), name="events", daemon=True)
    thread.start()
    return thread


def _pump(pump: EventPump, stop: threading.Event) -> None:
    """Publish state changes and evaluate triggers every ``interval`` until ``stop``."""
    try:
        while not stop.is_set():
            try:
                pump.tick()
            except Exception:  # a failed tick (database busy) must not end the engine's events
                log.exception("event pump tick failed; retrying")
            stop.wait(pump.settings.interval)
        pump.tick()  # what the drained runs changed last is published too
    except Exception:
        log.exception("event pump: the last tick failed; the next start publishes what it missed")
    finally:
        pump.close()


def _schedule(store: RunStore) -> None:
    result = schedule_once(store, datetime.now(UTC))
    if result.created or result.late:
        log.info("scheduler: %d runs created, %d late", result.created, result.late)


def drain(runner: Runner, settings: LoopSettings, heartbeat: Heartbeat | None = None) -> None:
    """Stop claiming; give running flows the grace period; cancel the rest; wait for them."""
    runner.accepting = False
    deadline = time.monotonic() + settings.shutdown_grace.total_seconds()
    while runner.running and time.monotonic() < deadline:
        runner.tick()
        time.sleep(min(0.2, settings.poll_interval))
    if runner.running:
        runner.cancel_all("the runner is shutting down")
        deadline = time.monotonic() + runner.config.cancel_grace.total_seconds() + 5
        while runner.running and time.monotonic() < deadline:
            runner.tick()
            time.sleep(0.1)
    runner.flush_all()
    if heartbeat is not None:  # stopped before the runner's row goes, so it cannot come back
        heartbeat.stop()
    runner.close()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop
