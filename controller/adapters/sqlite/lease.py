"""Per-owner control rows of the embedded registry: the writer lease and the suspend flag.

The lease is one row (owner, holder, expiry) taken or renewed in a ``BEGIN IMMEDIATE``
transaction, so two controllers racing for it queue and exactly one wins. Expiry is wall-clock
time because holders are different processes. The suspend flag and a refresh counter (a
webhook received by a standby, relayed to the active controller) live beside it. Built by the
composition root; the controller loop sees ``controller.runtime.controlling.ports.OwnerControl``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controller.adapters.sqlite.connection import RegistryConnection
from controller.adapters.sqlite.registry import SqliteRegistry
from controller.errors import RegistryUnavailable

_TAKE = """
    INSERT INTO leases (owner, holder, acquired_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT(owner) DO UPDATE SET
        holder = excluded.holder,
        renewed_at = excluded.renewed_at,
        expires_at = excluded.expires_at,
        acquired_at = CASE WHEN leases.holder = excluded.holder
            THEN leases.acquired_at ELSE excluded.acquired_at END
"""


@dataclass(frozen=True)
class LeaseHolder:
    holder: str
    expires_at: float


class SqliteOwnerControl:
    def __init__(
        self,
        path: Path,
        owner: str,
        holder: str,
        lease_seconds: float = 15.0,
        wall: Callable[[], float] = time.time,
    ) -> None:
        SqliteRegistry(path).close()  # brings the schema up to date
        self._connection = RegistryConnection(path)
        self.owner, self.holder, self.lease_seconds, self._wall = owner, holder, lease_seconds, wall

    def close(self) -> None:
        self._connection.close()

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if it is ours; True when we hold it."""
        now = self._wall()
        with self._converted("take the lease"), self._connection.write() as db:
            row = db.execute(
                "SELECT holder, expires_at FROM leases WHERE owner = ?", (self.owner,)
            ).fetchone()
            if row is not None and row[0] != self.holder and row[1] > now:
                return False
            db.execute(_TAKE, (self.owner, self.holder, now, now, now + self.lease_seconds))
        return True

    def release(self) -> None:
        """Give the lease up at a clean shutdown, so a standby takes over at once."""
        with self._converted("release the lease"), self._connection.write() as db:
            db.execute("DELETE FROM leases WHERE owner = ? AND holder = ?", (self.owner, self.holder))

    def current_holder(self) -> LeaseHolder | None:
        with self._converted("read the lease"):
            row = self._connection.db.execute(
                "SELECT holder, expires_at FROM leases WHERE owner = ?", (self.owner,)
            ).fetchone()
        return LeaseHolder(row[0], row[1]) if row else None

    def suspended(self) -> bool:
        return bool(self._control_row()[0])

    def refresh_requests(self) -> int:
        return int(self._control_row()[1])

    def request_refresh(self) -> None:
        self._upsert_control("refresh_requests", "refresh_requests + 1", 1)

    def set_suspended(self, suspended: bool) -> None:
        self._upsert_control("suspended", str(int(suspended)), int(suspended))

    def _control_row(self) -> tuple[int, int]:
        with self._converted("read the owner's controls"):
            row = self._connection.db.execute(
                "SELECT suspended, refresh_requests FROM owner_controls WHERE owner = ?", (self.owner,)
            ).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def _upsert_control(self, column: str, update: str, initial: int) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        with self._converted("update the owner's controls"), self._connection.write() as db:
            db.execute(
                f"INSERT INTO owner_controls (owner, {column}, updated_at) VALUES (?, ?, ?) "
                f"ON CONFLICT(owner) DO UPDATE SET {column} = {update}, updated_at = excluded.updated_at",
                (self.owner, initial, stamp),
            )

    def _converted(self, what: str) -> _Converted:
        return _Converted(f"cannot {what} in the registry {self._connection.path}")


class _Converted:
    """Turns a ``sqlite3.Error`` raised inside the block into ``RegistryUnavailable``."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error):
            raise RegistryUnavailable(f"{self.message}: {exc}") from exc


def set_suspended(path: Path, owner: str, suspended: bool) -> None:
    """``deployctl suspend|resume OWNER``: applying stops or resumes at the controller's next tick."""
    control = SqliteOwnerControl(path, owner, holder="cli")
    try:
        control.set_suspended(suspended)
    finally:
        control.close()
