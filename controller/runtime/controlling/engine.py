"""The embedded engine (scheduler and process runner) as the controller runs it: in a thread,
started when this controller becomes the active writer, drained at shutdown as ``up`` does.

Wraps ``controller.runtime.loops.serve``; the composition root builds it for the embedded
registry only (``--no-engine`` leaves it out; the Prefect backend has its own engine).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from controller.runtime.loops import LoopSettings, serve


class EngineThread:
    def __init__(self, settings: LoopSettings, runs_by_state: Callable[[], Mapping[str, int]]) -> None:
        self.settings, self._runs_by_state = settings, runs_by_state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=serve, args=(self.settings, self._stop), name="engine", daemon=True
        )
        self._thread.start()

    def drain(self) -> None:
        """Stop claiming, let running flows finish within the grace period, cancel the rest."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def runs_by_state(self) -> Mapping[str, int]:
        return self._runs_by_state()
