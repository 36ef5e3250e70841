"""The embedded engine's events, in their own SQLite file beside the registry (``events.db``).

The file's connection and write transactions are the registry's (``RegistryConnection``).
Events are stored whole (JSON) with the columns ``event ls`` filters on indexed; an event id
is unique, so a replayed event is stored once. ``add`` writes a batch in one transaction (all or
none). ``book`` is one ``BEGIN IMMEDIATE`` transaction for the event pump: cursors, trigger
buckets and firings change together with the events read, so two engines take turns. Its own
schema (``user_version``; created once), never the registry's migrations. Called through ``EventStore``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from controller.adapters.sqlite.connection import RegistryConnection
from controller.core.events import Event, event_from_json
from controller.core.triggers import Bucket, FiringRecord
from controller.ports import EventFilter

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    occurred TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    received TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_resource ON events(resource_id, occurred);
CREATE INDEX IF NOT EXISTS events_name ON events(event, occurred);
CREATE INDEX IF NOT EXISTS events_occurred ON events(occurred);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    trigger TEXT NOT NULL, key TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT NOT NULL,
    count INTEGER NOT NULL, last_event TEXT, PRIMARY KEY (trigger, key)
);
CREATE TABLE IF NOT EXISTS firings (
    key TEXT PRIMARY KEY, trigger TEXT NOT NULL, event_id TEXT NOT NULL, fired_at TEXT NOT NULL,
    run_id TEXT, outcome TEXT NOT NULL, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS firings_trigger ON firings(trigger, fired_at);
"""


class SqliteEventStore:
    """The ``EventStore`` (``controller.ports``) of the embedded engine."""

    def __init__(self, path: Path) -> None:
        self.path, self.location = path, str(path)
        self._connection = RegistryConnection(path)
        self.db, self._write = self._connection.db, self._connection.write
        if self.db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            with self._write() as db:  # once per file: later opens only read
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._connection.close()

    def add(self, events: Sequence[Event], received: str) -> int:
        with self._write() as db:
            return _add(db, events, received)

    def query(self, selection: EventFilter) -> list[Event]:
        where, args = ["1=1"], list[object]()
        if selection.resource:
            where.append(*_like("resource_id", selection.resource, args))
        if selection.names:
            names = [_like("event", name, args)[0] for name in selection.names]
            where.append("(" + " OR ".join(names) + ")")
        if selection.since:
            where.append("occurred >= ?")
            args.append(selection.since)
        if selection.until:
            where.append("occurred < ?")
            args.append(selection.until)
        rows = self.db.execute(
            f"SELECT document FROM events WHERE {' AND '.join(where)} ORDER BY occurred DESC, seq DESC "
            "LIMIT ?",
            (*args, selection.limit),
        ).fetchall()
        return [event_from_json(json.loads(row[0])) for row in rows]

    def get(self, event_id: str) -> Event | None:
        row = self.db.execute("SELECT document FROM events WHERE id = ?", (event_id,)).fetchone()
        return event_from_json(json.loads(row[0])) if row else None

    def prune(self, before: str, keep: int) -> int:
        with self._write() as db:
            gone = db.execute("DELETE FROM events WHERE occurred < ?", (before,)).rowcount
            row = db.execute("SELECT seq FROM events ORDER BY seq DESC LIMIT 1 OFFSET ?", (keep,)).fetchone()
            if row is not None:
                gone += db.execute("DELETE FROM events WHERE seq <= ?", (row[0],)).rowcount
            db.execute("DELETE FROM firings WHERE fired_at < ?", (before,))
            return int(gone)

    @contextmanager
    def book(self) -> Iterator[_Book]:
        with self._write() as db:
            yield _Book(db)

    def last_seq(self) -> int:
        row = self.db.execute("SELECT max(seq) FROM events").fetchone()
        return int(row[0] or 0)

    def cursor(self, name: str) -> int | None:
        return _cursor(self.db, name)

    def firings(self, trigger_prefix: str = "", limit: int = 50) -> list[FiringRecord]:
        rows = self.db.execute(
            "SELECT trigger, key, event_id, fired_at, run_id, outcome, message FROM firings "
            "WHERE substr(trigger, 1, ?) = ? ORDER BY fired_at DESC LIMIT ?",
            (len(trigger_prefix), trigger_prefix, limit),
        ).fetchall()
        return [FiringRecord(*row) for row in rows]


def _like(column: str, pattern: str, args: list[object]) -> list[str]:
    """``pattern`` exactly, or by prefix when it ends in ``*`` (an index range, no LIKE escapes)."""
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        args += [prefix, prefix + "\U0010ffff"]
        return [f"({column} >= ? AND {column} < ?)"]
    args.append(pattern)
    return [f"{column} = ?"]


def _cursor(db: sqlite3.Connection, name: str) -> int | None:
    row = db.execute("SELECT position FROM cursors WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else None


def _add(db: sqlite3.Connection, events: Sequence[Event], received: str) -> int:
    before = db.total_changes
    db.executemany(
        "INSERT OR IGNORE INTO events (id, event, occurred, resource_id, received, document) "
        "VALUES (?,?,?,?,?,?)",
        [(e.id, e.event, e.occurred, e.resource_id, received, json.dumps(e.to_json())) for e in events],
    )
    return db.total_changes - before


class _Book:
    """``TriggerBook``: the event store inside the pump's transaction."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def cursor(self, name: str) -> int | None:
        return _cursor(self.db, name)

    def set_cursor(self, name: str, position: int) -> None:
        self.db.execute(
            "INSERT INTO cursors (name, position) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
            (name, position),
        )

    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        rows = self.db.execute(
            "SELECT seq, document FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
        ).fetchall()
        return [(int(row[0]), event_from_json(json.loads(row[1]))) for row in rows]

    def add(self, events: Sequence[Event], received: str) -> int:
        return _add(self.db, events, received)

    def bucket(self, trigger: str, key: str) -> Bucket | None:
        row = self.db.execute(
            'SELECT start, "end", count, last_event FROM buckets WHERE trigger = ? AND key = ?',
            (trigger, key),
        ).fetchone()
        return Bucket(*row) if row else None

    def buckets(self, trigger: str) -> list[tuple[str, Bucket]]:
        rows = self.db.execute(
            'SELECT key, start, "end", count, last_event FROM buckets WHERE trigger = ? ORDER BY key',
            (trigger,),
        ).fetchall()
        return [(row[0], Bucket(*row[1:])) for row in rows]

    def put_bucket(self, trigger: str, key: str, bucket: Bucket | None) -> None:
        if bucket is None:
            self.db.execute("DELETE FROM buckets WHERE trigger = ? AND key = ?", (trigger, key))
            return
        self.db.execute(
            'INSERT OR REPLACE INTO buckets (trigger, key, start, "end", count, last_event) '
            "VALUES (?,?,?,?,?,?)",
            (trigger, key, bucket.start, bucket.end, bucket.count, bucket.last_event),
        )

    def firings_since(self, trigger: str, since: str) -> int:
        (count,) = self.db.execute(
            "SELECT count(*) FROM firings WHERE trigger = ? AND fired_at >= ? AND outcome = 'run'",
            (trigger, since),
        ).fetchone()
        return int(count)

    def record_firing(self, firing: FiringRecord) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO firings (key, trigger, event_id, fired_at, run_id, outcome, message) "
            "VALUES (?,?,?,?,?,?,?)",
            (
                firing.key,
                firing.trigger,
                firing.event_id,
                firing.fired_at,
                firing.run_id,
                firing.outcome,
                firing.message,
            ),
        )
