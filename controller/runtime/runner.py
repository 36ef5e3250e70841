"""The process runner: claims due runs, runs them in local processes, reports their states.

A thin facade over single-purpose parts (Prefect's habit): the run store claims and records,
``processes`` starts and signals process groups, ``flow_environment`` prepares what a flow
gets, ``materialise`` unpacks its version's code. ``tick(now)`` is one pass; the loop that
calls it lives in ``runtime.loops``. A runner that stops sending heartbeats is noticed by
any other runner (or itself, restarted), which kills the process groups it recorded and
marks its runs CRASHED.
"""

from __future__ import annotations

import io
import json
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

from controller.core.runs import FlowRun, StateType, iso
from controller.ports import ArtifactReader, RunStore
from controller.runtime import processes
from controller.runtime.flow_environment import (
    flow_command,
    flow_environment,
    parameter_problem,
    working_directory,
)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RunnerConfig:
    work_dir: Path
    queues: Sequence[str] | None = None
    limit: int = 4
    heartbeat_timeout: timedelta = timedelta(seconds=20)
    cancel_grace: timedelta = timedelta(seconds=10)


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
    _lines: queue.Queue[processes.LogLine] = field(default_factory=queue.Queue)
    wake: threading.Event = field(default_factory=threading.Event)
    """Set when a flow's process ends, so the loop can record it and claim the next run at once."""

    def tick(self, now: datetime | None = None) -> list[str]:
        """One pass; returns the ids of the runs it started."""
        now = now or self.clock()
        self.store.heartbeat(self.id, os.getpid(), self.config.queues, iso(now))
        self.recover_orphans(now)
        self._watch(now)
        started = []
        if self.accepting:
            capacity = self.config.limit - len(self.running)
            for run in self.store.claim(self.id, self.config.queues, iso(now), capacity):
                if self._start(run, now):
                    started.append(run.id)
        self.flush_logs()
        return started

    # -- starting -------------------------------------------------------------------------

    def _start(self, run: FlowRun, now: datetime) -> bool:
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
                {"code_dir": str(folder), "entrypoint": record["entrypoint"], "parameters": run.parameters}
            )
        )
        try:
            process = processes.spawn(
                run.id,
                flow_command(record, spec),
                flow_environment(record, run.id),
                working_directory(record, folder),
                self._lines,
                now,
                self.wake,
            )
        except OSError as exc:  # missing command or working_dir: the run cannot start
            self.store.set_state(
                run.id,
                StateType.CRASHED,
                "Crashed",
                iso(now),
                f"cannot start the flow: {exc}",
                end_time=iso(now),
            )
            return False
        self.running[run.id], self._records[run.id] = process, record
        name = "Retrying" if run.run_count > 0 else "Running"
        self.store.set_state(
            run.id,
            StateType.RUNNING,
            name,
            iso(now),
            start_time=iso(now),
            run_count=run.run_count + 1,
            pid=process.pgid,
            process_start=process.start_ticks,
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
            else:
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
        if process.stop_reason and processes.group_alive(process.pgid):
            processes.signal_group(process.pgid, signal.SIGKILL)  # children that outlived their parent
        for reader in process.readers:
            reader.join(timeout=5)
        self.flush_logs()
        del self.running[run_id]
        record = self._records.pop(run_id)
        state, name, message = _outcome(code, process)
        run = self.store.get(run_id)
        policy = record["run_policy"]
        if state is StateType.FAILED and run is not None and run.run_count <= policy["retries"]:
            retry_at = now + timedelta(seconds=policy["retry_delay_seconds"])
            self.store.set_state(
                run_id,
                StateType.SCHEDULED,
                "AwaitingRetry",
                iso(now),
                message,
                expected_start_time=iso(retry_at),
                runner_id=None,
            )
            return
        self.store.set_state(run_id, state, name, iso(now), message, end_time=iso(now))

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

    def flush_logs(self) -> None:
        batches: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        while True:
            try:
                run_id, timestamp, stream, line = self._lines.get_nowait()
            except queue.Empty:
                break
            batches[run_id].append((timestamp, stream, line))
        for run_id, lines in batches.items():
            self.store.append_logs(run_id, lines)


def _outcome(code: int, process: processes.RunningProcess) -> tuple[StateType, str, str]:
    if process.stop_reason == "Cancelled":
        return StateType.CANCELLED, "Cancelled", "cancelled on request"
    if process.stop_reason == "TimedOut":
        return StateType.FAILED, "TimedOut", "the run exceeded its timeout"
    if code == 0:
        return StateType.COMPLETED, "Completed", ""
    if code < 0:
        return StateType.CRASHED, "Crashed", f"the process was killed by signal {-code}"
    tail = "\n".join(process.stderr_tail)
    return StateType.FAILED, "Failed", f"exit code {code}" + (f":\n{tail}" if tail else "")
