"""The process runner: claims due runs, runs them in local processes, reports their states.

A thin facade over single-purpose parts (Prefect's habit): the run store claims and records,
``processes`` starts and signals process groups, ``flow_environment`` prepares what a flow
gets, ``materialise`` unpacks its version's code. ``tick(now)`` is one pass; the loop that
calls it lives in ``runtime.loops``. A runner that stops sending heartbeats is noticed by
any other runner (or itself, restarted), which kills the process groups it recorded and
marks its runs CRASHED; so the heartbeat has its own thread and connection (``Heartbeat``),
and a flow's output goes through a bounded queue written in bounded batches, with a per-run
limit (``processes.LogLimit``): no flow can delay the heartbeat or grow the runner.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import shutil
import signal
import tarfile
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from controller.core.runs import RUNNER_HEARTBEAT_TIMEOUT, FlowRun, StateType, iso
from controller.ports import ArtifactReader, RunStore
from controller.runtime import processes
from controller.runtime.flow_environment import (
    flow_command,
    flow_environment,
    parameter_problem,
    uses_launcher,
    working_directory,
)

Clock = Callable[[], datetime]
log = logging.getLogger("deployctl")


@dataclass(frozen=True)
class RunnerConfig:
    work_dir: Path
    queues: Sequence[str] | None = None
    limit: int = 4
    heartbeat_timeout: timedelta = RUNNER_HEARTBEAT_TIMEOUT
    cancel_grace: timedelta = timedelta(seconds=10)
    retention: timedelta = timedelta(days=7)
    """Run folders and logs of runs older than this are removed."""
    output_drain: float = 1.0
    """Seconds the output of an ended flow is still read (a child may hold its pipes); time its
    readers wait for room in ``log_queue`` does not count, so a slow registry cuts no lines."""
    log_limit: processes.LogLimit = field(default_factory=processes.LogLimit)
    """Lines and bytes of output one run may store; the rest is dropped, with a marker line."""
    log_queue: int = 10_000
    """Lines read but not yet written; a full queue slows the flows' output, never the runner."""
    log_batch: int = 5_000
    """Lines written per tick (one transaction per run): a chatty flow cannot hold up a tick."""
    heartbeat_interval: float = 2.0
    """Seconds between heartbeats (``Heartbeat``); well inside ``heartbeat_timeout`` (20 s)."""
    secret_names: frozenset[str] = frozenset()
    """Variables no flow is given, besides deployctl's own secrets: what notification receivers
    read their URLs and keys from (``App.notification_secret_names``)."""

    def __post_init__(self) -> None:
        # resolved once: flows run in other folders, and the runner's cwd must not matter
        object.__setattr__(self, "work_dir", Path(os.path.abspath(self.work_dir)))


@dataclass
class Runner:
    store: RunStore
    config: RunnerConfig
    read_artifact: ArtifactReader
    clock: Clock = field(default=lambda: datetime.now(UTC))
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    accepting: bool = True
    running: dict[str, processes.RunningProcess] = field(default_factory=dict)
    _records: dict[str, dict[str, Any]] = field(default_factory=dict)
    _lines: queue.Queue[processes.LogLine] = field(init=False)
    wake: threading.Event = field(default_factory=threading.Event)
    """Set when a flow's process ends, so the loop can record it and claim the next run at once."""
    _pruned_at: datetime | None = None

    def __post_init__(self) -> None:
        self._lines = queue.Queue(maxsize=self.config.log_queue)

    def beat(self, store: RunStore | None = None) -> None:
        """Tell the registry this runner is alive (``store``: another connection, another thread)."""
        (store or self.store).heartbeat(self.id, os.getpid(), self.config.queues, iso(self.clock()))

    def tick(self, now: datetime | None = None) -> list[str]:
        """One pass; returns the ids of the runs it started."""
        now = now or self.clock()
        self.store.heartbeat(self.id, os.getpid(), self.config.queues, iso(now))  # also when run alone
        self.recover_orphans(now)
        self._watch(now)
        started = []
        if self.accepting:
            capacity = self.config.limit - len(self.running)
            for run in self.store.claim(self.id, self.config.queues, iso(now), capacity):
                if self._start_safely(run, now):
                    started.append(run.id)
        self.flush_logs()
        self._prune(now)
        return started

    def _start_safely(self, run: FlowRun, now: datetime) -> bool:
        """Start one claimed run; whatever goes wrong crashes that run, never the claim pass."""
        try:
            return self._start(run, now)
        except Exception as exc:
            self._crash(run.id, now, f"cannot start the flow: {exc}")
            return False

    def _crash(self, run_id: str, now: datetime, message: str) -> None:
        self.store.set_state(run_id, StateType.CRASHED, "Crashed", iso(now), message, end_time=iso(now))

    # -- starting -------------------------------------------------------------------------

    def _start(self, run: FlowRun, now: datetime) -> bool:
        if self._cancelled_before_start(run.id, now):
            return False
        record, artifact = self.store.snapshot(run.snapshot)
        problem = parameter_problem(record, run.parameters)
        if problem:
            self.store.set_state(run.id, StateType.FAILED, "Failed", iso(now), problem, end_time=iso(now))
            return False
        try:
            folder = self._materialise(run, record, artifact)
        except Exception as exc:  # storage or archive problem: the run cannot start
            self.store.set_state(
                run.id,
                StateType.CRASHED,
                "Crashed",
                iso(now),
                f"cannot materialise the code of version {record.get('version')}: {exc}",
            )
            return False
        spec = folder.parent / "run.json"
        spec.write_text(
            json.dumps(
                {
                    "code_dir": str(folder),
                    "entrypoint": record["entrypoint"],
                    "parameters": run.parameters,
                    "result": str(folder.parent / "result.json"),
                }
            )
        )
        process = processes.spawn(
            run.id,
            flow_command(record, spec),
            flow_environment(record, run.id, secrets=self.config.secret_names),
            working_directory(record, folder),
            self._lines,
            now,
            self.wake,
            self.config.log_limit,
        )
        name = "Retrying" if run.run_count > 0 else "Running"
        started = self.store.transition(
            run.id,
            (StateType.PENDING,),
            StateType.RUNNING,
            name,
            iso(now),
            start_time=iso(now),
            run_count=run.run_count + 1,
            pid=process.pgid,
            process_start=process.start_ticks,
        )
        if not started:  # cancelled while it was starting: it never runs
            processes.signal_group(process.pgid, signal.SIGKILL)
            process.popen.wait()
            process.abandon.set()
            self._cancelled_before_start(run.id, now)
            return False
        self.running[run.id], self._records[run.id] = process, record
        return True

    def _cancelled_before_start(self, run_id: str, now: datetime) -> bool:
        current = self.store.get(run_id)
        if current is None or current.state_type not in (StateType.CANCELLING, StateType.CANCELLED):
            return False
        self.store.transition(
            run_id,
            (StateType.CANCELLING,),
            StateType.CANCELLED,
            "Cancelled",
            iso(now),
            "cancelled before it started",
            end_time=iso(now),
        )
        return True

    def _materialise(self, run: FlowRun, record: dict[str, Any], artifact: str | None) -> Path:
        folder = self.config.work_dir / run.id / f"attempt-{run.run_count + 1}" / "code"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if artifact is None:
            raise FileNotFoundError("the deployment has no code artifact")
        with tarfile.open(fileobj=io.BytesIO(self.read_artifact(artifact)), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")
        return folder

    # -- watching ---------------------------------------------------------------------------

    def _watch(self, now: datetime) -> None:
        for run_id, process in list(self.running.items()):
            code = process.popen.poll()
            if code is None:
                self._enforce(run_id, process, now)
                continue
            if process.exited_at is None:
                # the run ends with its process: whatever it left in its group goes too
                process.ended()
                processes.signal_group(process.pgid, signal.SIGKILL)
            drained = process.drained_for() > self.config.output_drain
            if process.output_closed() or drained:
                process.abandon.set()  # an escaped child holding the pipes is not waited for
                self._finish(run_id, process, code, now)

    def _enforce(self, run_id: str, process: processes.RunningProcess, now: datetime) -> None:
        timeout = self._records[run_id]["run_policy"]["timeout_seconds"]
        if process.stop_reason is None:
            current = self.store.get(run_id)
            if current is not None and current.state_type is StateType.CANCELLING:
                self._stop(process, "Cancelled", now)
            elif timeout and now - process.started_at > timedelta(seconds=timeout):
                self._stop(process, "TimedOut", now)
        elif process.signalled_at and now - process.signalled_at > self.config.cancel_grace:
            processes.signal_group(process.pgid, signal.SIGKILL)

    def _stop(self, process: processes.RunningProcess, reason: str, now: datetime) -> None:
        process.stop_reason, process.signalled_at = reason, now
        processes.signal_group(process.pgid, signal.SIGTERM)

    def _finish(self, run_id: str, process: processes.RunningProcess, code: int, now: datetime) -> None:
        self.flush_logs(limit=self.config.log_queue)  # what the ended flow left; bounded by the queue
        marker = process.output.marker()
        if marker:
            self.store.append_logs(run_id, [(iso(now), "stderr", marker)])
        del self.running[run_id]
        record = self._records.pop(run_id)
        state, name, message = _outcome(code, process, uses_launcher(record))
        run = self.store.get(run_id)
        policy = record["run_policy"]
        active = (StateType.RUNNING, StateType.CANCELLING)
        retry = run is not None and run.state_type is StateType.RUNNING and run.run_count <= policy["retries"]
        if state is StateType.FAILED and name == "Failed" and retry:
            retry_at = now + timedelta(seconds=policy["retry_delay_seconds"])
            self.store.transition(
                run_id,
                (StateType.RUNNING,),
                StateType.SCHEDULED,
                "AwaitingRetry",
                iso(now),
                message,
                expected_start_time=iso(retry_at),
                runner_id=None,
            )
            return
        # the real outcome wins over a cancel request that raced the end of the process
        self.store.transition(run_id, active, state, name, iso(now), message, end_time=iso(now))

    # -- retention ----------------------------------------------------------------------------

    def _prune(self, now: datetime) -> None:
        """At most hourly: drop run folders and logs older than the retention setting."""
        if self._pruned_at is not None and now - self._pruned_at < timedelta(hours=1):
            return
        self._pruned_at = now
        cutoff = now - self.config.retention
        self.store.prune_logs(iso(cutoff))
        if not self.config.work_dir.is_dir():
            return
        for folder in self.config.work_dir.iterdir():
            if folder.name in self.running or not folder.is_dir():
                continue
            if datetime.fromtimestamp(folder.stat().st_mtime, UTC) < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    # -- recovery and shutdown --------------------------------------------------------------

    def recover_orphans(self, now: datetime) -> int:
        """Mark runs of runners silent for too long CRASHED, after killing their process groups."""
        orphans = [
            r
            for r in self.store.orphaned_runs(iso(now - self.config.heartbeat_timeout))
            if r.id not in self.running
        ]
        for run in orphans:
            pid, ticks = self.store.process_of(run.id)
            if pid:
                processes.kill_recorded_group(pid, ticks)
            self.store.set_state(
                run.id,
                StateType.CRASHED,
                "Crashed",
                iso(now),
                "its runner stopped sending heartbeats",
                end_time=iso(now),
            )
        return len(orphans)

    def cancel_all(self, reason: str, now: datetime | None = None) -> None:
        now = now or self.clock()
        for process in self.running.values():
            if process.stop_reason is None:
                self._stop(process, "Cancelled", now)
                self.store.set_state(process.run_id, StateType.CANCELLING, "Cancelling", iso(now), reason)

    def close(self) -> None:
        self.store.remove_runner(self.id)

    def flush_logs(self, limit: int | None = None) -> int:
        """Write queued output, at most ``limit`` lines (``config.log_batch``); how many were written."""
        batches: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        limit = limit or self.config.log_batch
        count = 0
        while count < limit:
            try:
                run_id, timestamp, stream, line = self._lines.get_nowait()
            except queue.Empty:
                break
            count += 1
            batches[run_id].append((timestamp, stream, line))
        for run_id, lines in batches.items():
            self.store.append_logs(run_id, lines)
        return count

    def flush_all(self) -> None:
        """Write everything queued, batch by batch (at shutdown, when no flow runs any more)."""
        while self.flush_logs():
            pass


class Heartbeat:
    """The runner's heartbeat on its own thread and registry connection, every ``interval`` seconds.

    Started by ``runtime.loops``: the poll loop may be busy writing a chatty flow's output or
    waiting for the registry, but other runners must still hear from this one in time, or they
    would mark its healthy runs CRASHED and kill them."""

    def __init__(self, runner: Runner, store: RunStore, interval: float) -> None:
        self.runner, self.store, self.interval = runner, store, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name="deployctl-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.store.close()

    def _beat(self) -> None:
        while not self.stopped.is_set():
            try:
                self.runner.beat(self.store)
            except Exception:  # registry busy or disk full: the next beat tries again
                log.exception("runner heartbeat failed; retrying")
            self.stopped.wait(self.interval)


def _outcome(code: int, process: processes.RunningProcess, launcher: bool) -> tuple[StateType, str, str]:
    if process.stop_reason == "Cancelled":
        return StateType.CANCELLED, "Cancelled", "cancelled on request"
    if process.stop_reason == "TimedOut":
        return StateType.FAILED, "TimedOut", "the run exceeded its timeout"
    result = _launcher_result(process) if launcher else None
    tail = process.stderr_tail[-1] if process.stderr_tail else ""
    if launcher and result is None:  # the launcher failed before the flow's code ran
        reason = f"the flow launcher failed (exit code {code})" + (f": {tail}" if tail else "")
        return StateType.CRASHED, "Crashed", reason
    if code == 0:
        return StateType.COMPLETED, "Completed", ""
    if code < 0:
        return StateType.CRASHED, "Crashed", f"the process was killed by signal {-code}"
    last = (result or {}).get("message") or tail
    return StateType.FAILED, "Failed", f"exit code {code}" + (f":\n{last}" if last else "")


def _launcher_result(process: processes.RunningProcess) -> dict[str, Any] | None:
    """What the launcher recorded (None: it never reached the flow's code)."""
    spec = process.popen.args[-1]  # type: ignore[index]
    try:
        found = json.loads((Path(str(spec)).parent / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
