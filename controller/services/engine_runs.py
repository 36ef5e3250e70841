"""Flow runs that another engine executes (Prefect's workers): create, follow the logs, wait.

The same calls as ``services.runs.Runs``, so ``deployctl deployment run --watch`` reads alike on
every registry. Called by the CLI; the port is ``controller.ports.EngineRuns``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controller.ports import EngineRun, EngineRuns

LogLine = tuple[str, str, str]


@dataclass
class RemoteRuns:
    runs: EngineRuns
    poll: float = 1.0

    def create(
        self, deployment: str, parameters: Mapping[str, Any] | None = None, start_at: datetime | None = None
    ) -> EngineRun:
        return self.runs.create(deployment, parameters, start_at)

    def follow(self, run_id: str) -> Iterator[LogLine]:
        """Log lines as the server has them, until the run is finished and every line was given."""
        seen, quiet_after_end = 0, 0
        while quiet_after_end < 2:  # a flow's last lines reach the server just after its final state
            finished = self.runs.get(run_id).finished
            lines = self.runs.logs(run_id, after=seen)
            seen += len(lines)
            yield from lines
            quiet_after_end = quiet_after_end + 1 if finished and not lines else 0
            if not lines:
                time.sleep(self.poll)

    def wait(self, run_id: str, timeout: float | None = None) -> EngineRun:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.runs.get(run_id)
            if run.finished or (deadline is not None and time.monotonic() >= deadline):
                return run
            time.sleep(self.poll)
