"""Flow runs that another engine executes (Prefect's workers): create, follow the logs, wait.

The same calls as ``services.runs.Runs``, so ``deployctl deployment run --watch`` reads alike on
every registry. Called by the CLI; the port is ``controller.ports.EngineRuns``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.ports import EngineRuns, RunView
from controller.services.waiting import Waiting

LogLine = tuple[str, str, str]
FINAL_LINE = "Finished in state"  # what Prefect's flow engine logs last in a flow run
LAST_LINES_WAIT = 10.0  # seconds of quiet after the end before the last lines are given up


@dataclass
class RemoteRuns:
    runs: EngineRuns
    poll: float = 1.0

    def create(
        self, deployment: str, parameters: Mapping[str, Any] | None = None, start_at: datetime | None = None
    ) -> RunView:
        return self.runs.create(deployment, parameters, start_at)

    def watching(self, run: RunView, notify: Callable[[str], None], timeout: float | None) -> Waiting:
        cancel = f"'prefect flow-run cancel {run.id}'"
        return Waiting(run.id, lambda: self.runs.unserved(run.id), notify, timeout, cancel)

    def follow(self, run_id: str, waiting: Waiting | None = None) -> Iterator[LogLine]:
        """Log lines as the server has them, until the run is finished and every line was given.

        A flow process ships its logs in batches (every 2 s by default), the last one as it
        exits, after its final state is set: so after the end, lines are awaited until the
        flow engine's own last line ("Finished in state …") or ``LAST_LINES_WAIT`` of quiet."""
        seen, quiet_since, last_given = 0, None, False
        while True:
            run = self.runs.get(run_id)
            finished = run.finished
            lines = self.runs.logs(run_id, after=seen)
            seen += len(lines)
            yield from lines
            if waiting is not None and not finished:
                waiting.tick(run.state_name, run.waiting)
            last_given = last_given or any(line[2].startswith(FINAL_LINE) for line in lines)
            if finished and last_given:
                return
            if lines or not finished:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= LAST_LINES_WAIT:
                return
            if not lines:
                time.sleep(self.poll)

    def wait(self, run_id: str, timeout: float | None = None) -> RunView:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.runs.get(run_id)
            if run.finished or (deadline is not None and time.monotonic() >= deadline):
                return run
            time.sleep(self.poll)
