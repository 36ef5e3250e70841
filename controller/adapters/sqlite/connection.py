"""One SQLite connection to the registry file, and its write transactions.

WAL journal (readers never block the writer), a 30 s busy timeout, and ``BEGIN IMMEDIATE``
for every write so that concurrent writers queue instead of failing half-way. Shared by
``SqliteRegistry`` and ``RunStore``; no ``sqlite3.Error`` escapes it unconverted.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.errors import ConfigError, NotFound, RegistryUnavailable


class RegistryConnection:
    """``create=False`` (read-only commands) opens only a registry that exists: no file and no
    folder is made, and a missing one is a ``NotFound`` naming the path."""

    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        if path.is_dir():
            raise ConfigError(f"the registry {path} is a folder: name a database file (sqlite:///PATH)")
        if not create and not path.is_file():
            raise NotFound(
                f"no registry at {path}: nothing has been synced there yet "
                "('deployctl sync SOURCE' creates it; --home, DEPLOYCTL_HOME or --registry name another)"
            )
        try:
            if create:
                path.parent.mkdir(parents=True, exist_ok=True)
            # mode=rw: a registry removed since the check above is an error, not a new empty file
            target = path if create else f"{path.absolute().as_uri()}?mode=rw"
            self.db = sqlite3.connect(
                target, timeout=30, isolation_level=None, check_same_thread=False, uri=not create
            )
            self._use_wal()
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            if "file is not a database" in str(exc):
                raise ConfigError(
                    f"the registry {path} is not a deployctl database (it holds something else): "
                    "name another file; deployctl never overwrites what it cannot read"
                ) from exc
            raise RegistryUnavailable(f"cannot open the registry {path}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot create the registry {path}: {exc.strerror or exc}") from exc

    def close(self) -> None:
        self.db.close()

    def _use_wal(self) -> None:
        """WAL is a property of the file, set once; switching needs a moment alone with it, which
        SQLite does not wait for, so two processes creating one registry retry briefly."""
        for attempt in range(100):
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"the registry {self.path} is busy: {exc}") from exc
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:  # SQLite already rolled back after some errors (disk full)
                self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise RegistryUnavailable(self._explain(exc)) from exc
            raise

    def _explain(self, exc: sqlite3.Error) -> str:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "is full" in str(exc):
            return f"no space left while writing {self.path}; nothing was applied"
        return f"writing to the registry {self.path} failed ({exc}); nothing was applied"
