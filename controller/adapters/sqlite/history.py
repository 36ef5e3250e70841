"""The embedded registry's history of passes and its owners' holds, in the registry's file.

Each pass is a row of JSON (``passes``) and one row per deployment it wrote
(``pass_changes``, for ``deployctl deployment history``); adding one trims the owner's oldest
beyond the limit in the same transaction. A hold is a row of ``owner_holds``, beside the owner's
control row (its suspend flag). Built by ``SqliteBackend``; seen through the ``HistoryStore`` and
``HoldStore`` ports.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from controller.adapters.sqlite.connection import RegistryConnection
from controller.adapters.sqlite.registry import SqliteRegistry
from controller.core.history import Hold, PassRecord
from controller.errors import RegistryUnavailable


class SqliteHistory:
    def __init__(self, path: Path, create: bool = True) -> None:
        SqliteRegistry(path, create).close()  # brings the schema up to date
        self._connection = RegistryConnection(path, create)
        self._db = self._connection.db

    def close(self) -> None:
        self._connection.close()

    def record_pass(self, record: PassRecord, keep: int) -> None:
        body = json.dumps(record.to_json(), separators=(",", ":"))
        with self._connection.write() as db:
            cursor = db.execute("INSERT INTO passes (owner, record) VALUES (?, ?)", (record.owner, body))
            db.executemany(
                "INSERT INTO pass_changes (pass_id, deployment_id) VALUES (?, ?)",
                [(cursor.lastrowid, c.deployment) for c in record.changes],
            )
            oldest_kept = db.execute(
                "SELECT id FROM passes WHERE owner = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                (record.owner, max(keep, 1) - 1),
            ).fetchone()
            if oldest_kept is not None:
                db.execute("DELETE FROM passes WHERE owner = ? AND id < ?", (record.owner, oldest_kept[0]))

    def list_passes(
        self, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PassRecord]:
        where, args = ("WHERE owner = ?", [owner]) if owner is not None else ("", [])
        with self._reading():
            rows = self._db.execute(
                f"SELECT record FROM passes {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                [*args, _limit(limit), max(offset, 0)],
            ).fetchall()
        return [_record(r[0]) for r in rows]

    def passes_of(self, deployment: str, limit: int | None = None) -> list[PassRecord]:
        with self._reading():
            rows = self._db.execute(
                "SELECT p.record FROM pass_changes c JOIN passes p ON p.id = c.pass_id "
                "WHERE c.deployment_id = ? ORDER BY p.id DESC LIMIT ?",
                (deployment, _limit(limit)),
            ).fetchall()
        return [_record(r[0]) for r in rows]

    def read_hold(self, owner: str) -> Hold | None:
        with self._reading():
            row = self._db.execute(
                "SELECT revision, since FROM owner_holds WHERE owner = ?", (owner,)
            ).fetchone()
        return Hold(owner, row[0], row[1]) if row else None

    def set_hold(self, owner: str, hold: Hold | None) -> None:
        with self._connection.write() as db:
            if hold is None:
                db.execute("DELETE FROM owner_holds WHERE owner = ?", (owner,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO owner_holds (owner, revision, since) VALUES (?, ?, ?)",
                    (owner, hold.revision, hold.since),
                )

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot read the registry {self._connection.path}: {exc}") from exc


def _limit(limit: int | None) -> int:
    return -1 if limit is None else limit  # SQLite: a negative LIMIT is none


def _record(text: str) -> PassRecord:
    data: dict[str, Any] = json.loads(text)
    return PassRecord.from_json(data)
