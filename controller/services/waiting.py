"""What `deployment run --watch` says while it waits: once, when nothing serves the run's queue,
and a ``TimedOut`` when ``--timeout`` elapses (the run itself goes on).

Shared by the embedded runs (``services.runs``) and the Prefect server's (``services.engine_runs``):
each passes how to find out why nothing would take the run, and how a person stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from controller.errors import TimedOut

CHECK_EVERY = 5.0  # seconds between two looks at who serves the queue, while the run waits


@dataclass
class Waiting:
    run_id: str
    unserved: Callable[[], str | None]
    """Why no runner or worker will take the run (its queue unserved or paused), or None."""
    notify: Callable[[str], None]
    timeout: float | None
    cancel_hint: str
    clock: Callable[[], float] = time.monotonic
    _deadline: float | None = field(init=False)
    _next_check: float = field(init=False, default=float("-inf"))
    _said: str | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._deadline = None if self.timeout is None else self.clock() + self.timeout

    def tick(self, state_name: str, waiting: bool) -> None:
        """Called at each poll of a run that has not finished; ``waiting``: not yet taken."""
        now = self.clock()
        if self._deadline is not None and now >= self._deadline:
            raise TimedOut(
                f"flow run {self.run_id} is still {state_name} after --timeout {self.timeout:g} s; "
                f"it goes on ({self.cancel_hint} stops it)"
            )
        if not waiting or now < self._next_check:
            return
        self._next_check = now + CHECK_EVERY
        reason = self.unserved()
        if reason is not None and reason != self._said:
            self.notify(reason)
        self._said = reason
