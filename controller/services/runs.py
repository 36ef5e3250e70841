"""Flow runs of the embedded engine: create, find by id prefix, follow, wait, cancel.

Identifiers are never guessed: a prefix matching several runs is an error listing them, and
``%`` or ``_`` are plain characters. Called by the CLI's ``flow-run`` and ``deployment run``
commands and by ``controller.run_deployment``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from controller.core.runs import RUNNER_HEARTBEAT_TIMEOUT, FlowRun, StateType, iso
from controller.errors import Ambiguous, NotFound, UsageError
from controller.ports import RunBook, RunView
from controller.runtime.ad_hoc import RunOptions, create_run, wait_for
from controller.services.waiting import Waiting

LogLine = tuple[str, str, str]  # timestamp, stream, line


class FlowRuns(Protocol):
    """Runs of a deployment on whichever engine the backend has: deployctl's own (``Runs``) or
    Prefect's workers (``services.engine_runs.RemoteRuns``). What ``deployment run --watch`` uses."""

    def create(
        self, deployment: str, parameters: Mapping[str, Any] | None = None, start_at: datetime | None = None
    ) -> RunView: ...

    def watching(self, run: RunView, notify: Callable[[str], None], timeout: float | None) -> Waiting: ...

    def follow(self, run_id: str, waiting: Waiting | None = None) -> Iterator[LogLine]: ...

    def wait(self, run_id: str, timeout: float | None = None) -> RunView: ...


@dataclass
class Runs:
    store: RunBook

    def create(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        start_at: datetime | None = None,
        idempotency_key: str | None = None,
        work_queue_name: str | None = None,
        options: RunOptions | None = None,
    ) -> FlowRun:
        return create_run(
            self.store, deployment, parameters, start_at, idempotency_key, work_queue_name, options=options
        )

    def all(self, deployment: str | None = None, state: str | None = None, limit: int = 50) -> list[FlowRun]:
        return self.store.list_runs(deployment, state, limit)

    def get(self, prefix: str) -> FlowRun:
        """The run whose id is ``prefix``, or the only one that starts with it."""
        if not prefix:
            raise UsageError("give a flow run id ('deployctl flow-run ls')")
        exact = self.store.get(prefix)
        if exact is not None:
            return exact
        found = self.store.find(prefix)
        if not found:
            raise NotFound(f"no flow run {prefix!r} in {self.store.location} ('deployctl flow-run ls')")
        if len(found) > 1:
            ids = ", ".join(r.id for r in found[:10]) + (", …" if len(found) > 10 else "")
            raise Ambiguous(f"{prefix!r} matches {len(found)} flow runs: {ids}; give more of the id")
        return found[0]

    def states(self, run: FlowRun) -> list[dict[str, str]]:
        return self.store.states(run.id)

    def logs(self, run: FlowRun) -> list[LogLine]:
        return [row[1:] for row in self.store.logs(run.id)]

    def follow(self, run_id: str, waiting: Waiting | None = None, poll: float = 0.3) -> Iterator[LogLine]:
        """Log lines as they arrive, until the run is finished and every line was given;
        ``waiting`` says when nothing serves the run's queue and ends a watch at its timeout."""
        seen = 0
        while True:
            run = self.store.get(run_id)
            finished = run is None or run.state_type.terminal
            for seq, *line in self.store.logs(run_id, after=seen):
                seen = seq
                yield (line[0], line[1], line[2])
            if finished:
                return
            if waiting is not None and run is not None:
                waiting.tick(run.state_name, run.state_type is StateType.SCHEDULED)
            time.sleep(poll)

    def watching(self, run: RunView, notify: Callable[[str], None], timeout: float | None) -> Waiting:
        cancel = f"'deployctl flow-run cancel {run.id}'"
        queue = self.get(run.id).work_queue_name
        return Waiting(run.id, lambda: self.unserved(queue), notify, timeout, cancel)

    def unserved(self, queue: str, now: datetime | None = None) -> str | None:
        """Why no runner will take a run of ``queue``: the queue is paused, or no runner that
        takes it has sent a heartbeat lately (``up`` and ``runner`` send one every poll)."""
        if any(q["name"] == queue and q["paused"] for q in self.store.list_queues()):
            return (
                f"work queue '{queue}' is paused: no runner takes its runs until "
                f"'deployctl work-queue resume {queue}'"
            )
        heard_after = iso((now or datetime.now(UTC)) - RUNNER_HEARTBEAT_TIMEOUT)
        if any(not queues or queue in queues for queues in self.store.runner_queues(heard_after)):
            return None
        silence = RUNNER_HEARTBEAT_TIMEOUT.total_seconds()
        return (
            f"no runner serves work queue '{queue}' (none was heard from in the last {silence:g} s): "
            "start 'deployctl runner' or 'deployctl up'; the run waits until one does"
        )

    def wait(self, run_id: str, timeout: float | None = None, poll: float = 0.2) -> FlowRun:
        return wait_for(self.store, run_id, timeout, poll)

    def cancel(self, prefix: str, now: datetime | None = None) -> FlowRun:
        """Cancel a run: at once if it has not started, else ask its runner (SIGTERM, then SIGKILL)."""
        run = self.get(prefix)
        stamp = iso(now or datetime.now(UTC))
        if run.state_type.terminal:
            raise UsageError(f"flow run {run.id} has already finished ({run.state_name})")
        # one atomic step: a cancel racing the run's end leaves the real final state
        found = self.store.request_cancel(run.id, stamp)
        assert found is not None
        return found
