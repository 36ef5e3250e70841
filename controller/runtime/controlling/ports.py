"""What the controller loop needs from the outside, as small protocols.

The composition root passes the git adapter's ``RemoteHead``, the engine's ``Reconciler`` and the
backend's ``OwnerControl``; unit tests pass fakes of these
protocols, never of a library.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from controller.core.history import Hold
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.ports import OwnerControl

__all__ = ["Clock", "Engine", "HoldReader", "Leadership", "OwnerControl", "Reconcile", "RemoteWatch"]

Clock = Callable[[], float]
"""Monotonic seconds: the loop's notion of now (time.monotonic in production)."""


class RemoteWatch(Protocol):
    def remote_head(self) -> str:
        """The commit the watched ref points at now; raises TransientError when unreachable."""
        ...


class Reconcile(Protocol):
    def reconcile_once(self, options: SyncOptions, progress: Callable[[str], None] = ...) -> SyncResult: ...

    def record_source_failure(self, owner: str, message: str) -> str:
        """Record in the owner's status that the source could not be read; the message as recorded."""
        ...


class HoldReader(Protocol):
    """Where the owner's hold (``deployctl rollback``) is read, at every check of the remote."""

    def read_hold(self, owner: str) -> Hold | None: ...


class Leadership(Protocol):
    """Whether this process is the active writer for its owner right now."""

    def is_active(self) -> bool: ...


class Engine(Protocol):
    """The embedded scheduler and runner, started when this controller becomes active."""

    def start(self) -> None: ...

    def drain(self) -> None: ...

    def runs_by_state(self) -> Mapping[str, int]: ...
