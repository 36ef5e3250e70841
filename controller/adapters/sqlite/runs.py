"""Flow runs in the embedded registry: scheduling inserts, claims, states, logs, runners.

Same SQLite file as the deployments, own connection. Every state change appends to the
run's state history. Claims run in ``BEGIN IMMEDIATE`` so two runners never take the same
run, and honour the concurrency limits of the runner, the work queue and the deployment.
Called by ``controller.runtime`` (scheduler, runner) and the CLI.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.adapters.sqlite.connection import RegistryConnection
from controller.core.records import canonical_json, record_digest
from controller.core.runs import ACTIVE, FlowRun, StateType
from controller.errors import RegistryUnavailable
from controller.ports import ActiveSchedule, NewRun

_RUN_COLUMNS = (
    "id, deployment_id, flow_name, name, state_type, state_name, state_message, expected_start_time, "
    "parameters, work_queue_name, snapshot, auto_scheduled, schedule_slug, idempotency_key, "
    "start_time, end_time, run_count, runner_id, pid, tags"
)
_ACTIVE = tuple(s.value for s in ACTIVE)


def _run(row: Sequence[Any]) -> FlowRun:
    values = list(row)
    values[4] = StateType(values[4])
    values[8] = json.loads(values[8])
    values[11] = bool(values[11])
    values[19] = tuple(json.loads(values[19]))
    return FlowRun(*values)


class SqliteRunStore:
    """The embedded ``RunStore`` (``controller.ports``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._connection = RegistryConnection(path)
        self._db = self._connection.db
        self._write = self._connection.write

    def close(self) -> None:
        self._connection.close()

    def count_by_state(self) -> dict[str, int]:
        """Flow runs per state type, for the controller's /metrics."""
        rows = self._db.execute("SELECT state_type, COUNT(*) FROM flow_runs GROUP BY state_type").fetchall()
        return {str(state): int(count) for state, count in rows}

    # -- scheduling ------------------------------------------------------------------------

    def active_schedules(self) -> list[ActiveSchedule]:
        rows = self._db.execute(
            "SELECT s.deployment_id, d.flow_name, s.position, s.slug, s.definition, d.record_digest, "
            "d.work_queue_name, d.catchup, d.created_at FROM schedules s JOIN deployments d "
            "ON d.id = s.deployment_id WHERE s.active = 1 AND d.paused = 0"
        ).fetchall()
        return [ActiveSchedule(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8]) for r in rows]

    def horizon(self, now: str) -> dict[tuple[str, str], tuple[int, str]]:
        """(deployment, schedule slug) -> (future auto-scheduled runs, the latest of their times)."""
        rows = self._db.execute(
            "SELECT deployment_id, schedule_slug, count(*), max(expected_start_time) FROM flow_runs "
            "WHERE auto_scheduled = 1 AND state_type = 'SCHEDULED' AND expected_start_time >= ? "
            "GROUP BY deployment_id, schedule_slug",
            (now,),
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def latest_scheduled(self, deployment_id: str, slug: str) -> str | None:
        row = self._db.execute(
            "SELECT max(expected_start_time) FROM flow_runs WHERE deployment_id = ? AND schedule_slug = ? "
            "AND auto_scheduled = 1",
            (deployment_id, slug),
        ).fetchone()
        return row[0] if row else None

    def deployment_parameters(self, snapshots: set[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for digest in snapshots:
            row = self._db.execute(
                "SELECT record FROM deployment_snapshots WHERE digest = ?", (digest,)
            ).fetchone()
            out[digest] = json.loads(row[0])["parameters"] if row else {}
        return out

    def insert_runs(self, runs: Sequence[NewRun], now: str) -> int:
        """Insert runs; one whose idempotency key exists already is skipped. Returns how many were new."""
        with self._write() as db:
            before = db.total_changes
            for run in runs:
                self._insert(db, run, now)
            return (db.total_changes - before) // 2

    def _insert(self, db: sqlite3.Connection, run: NewRun, now: str) -> str | None:
        run_id = str(uuid.uuid4())
        cursor = db.execute(
            "INSERT OR IGNORE INTO flow_runs (id, deployment_id, flow_name, name, snapshot, idempotency_key, "
            "auto_scheduled, schedule_slug, parameters, work_queue_name, state_type, state_name, "
            "expected_start_time, created_at, updated_at, tags) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,'SCHEDULED','Scheduled',?,?,?,?)",
            (
                run_id,
                run.deployment_id,
                run.flow_name,
                run.name or f"{run.deployment_id.split('/')[-1]}-{run_id[:8]}",
                run.snapshot,
                run.idempotency_key,
                int(run.auto_scheduled),
                run.schedule_slug,
                json.dumps(run.parameters),
                run.work_queue_name,
                run.expected_start_time,
                now,
                now,
                json.dumps(list(run.tags)),
            ),
        )
        if cursor.rowcount == 0:
            return None
        self._history(db, run_id, StateType.SCHEDULED, "Scheduled", "", now)
        return run_id

    def mark_late(self, due_before: str, now: str) -> int:
        with self._write() as db:
            late = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM flow_runs WHERE state_type = 'SCHEDULED' AND state_name = 'Scheduled' "
                    "AND expected_start_time < ?",
                    (due_before,),
                )
            ]
            for run_id in late:
                self._transition(
                    db, run_id, StateType.SCHEDULED, "Late", "not started within the grace period", now
                )
            return len(late)

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, run: NewRun, now: str) -> FlowRun:
        """Insert ``run``; with an idempotency key already used, the run created first."""
        with self._write() as db:
            run_id = (
                self._insert(db, run, now)
                or db.execute(
                    "SELECT id FROM flow_runs WHERE idempotency_key = ?", (run.idempotency_key,)
                ).fetchone()[0]
            )
        found = self.get(run_id)
        assert found is not None
        return found

    def get(self, run_id: str) -> FlowRun | None:
        row = self._db.execute(f"SELECT {_RUN_COLUMNS} FROM flow_runs WHERE id = ?", (run_id,)).fetchone()
        return _run(row) if row else None

    def find(self, prefix: str) -> list[FlowRun]:
        """Runs whose id starts with ``prefix``, taken literally (no LIKE wildcards)."""
        rows = self._db.execute(
            f"SELECT {_RUN_COLUMNS} FROM flow_runs WHERE substr(id, 1, ?) = ? ORDER BY id LIMIT 20",
            (len(prefix), prefix),
        ).fetchall()
        return [_run(r) for r in rows]

    def list_runs(
        self, deployment: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[FlowRun]:
        query, args = f"SELECT {_RUN_COLUMNS} FROM flow_runs WHERE 1=1", list[str]()
        if deployment:
            query, args = query + " AND deployment_id = ?", [*args, deployment]
        if state:
            query += " AND (state_type = upper(?) OR lower(state_name) = lower(?))"
            args = [*args, state, state]
        query += " ORDER BY expected_start_time DESC LIMIT ?"
        return [_run(r) for r in self._db.execute(query, (*args, limit))]

    def derive_snapshot(self, digest: str, record: dict[str, Any], now: str) -> str:
        """A snapshot like ``digest`` (same deployment and code) with ``record`` instead: a run
        created with its own job variables runs it. Content-addressed, so made once."""
        derived = record_digest(record)
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO deployment_snapshots (digest, deployment_id, record, artifact_uri, "
                "created_at) SELECT ?, deployment_id, ?, artifact_uri, ? FROM deployment_snapshots "
                "WHERE digest = ?",
                (derived, canonical_json(record), now, digest),
            )
        return derived

    def snapshot(self, digest: str) -> tuple[dict[str, Any], str | None]:
        row = self._db.execute(
            "SELECT record, artifact_uri FROM deployment_snapshots WHERE digest = ?", (digest,)
        ).fetchone()
        if row is None:
            raise RegistryUnavailable(f"deployment snapshot {digest[:12]} is missing from {self.path}")
        return json.loads(row[0]), row[1]

    def deployment_snapshot(self, deployment_id: str) -> tuple[str, str, str, dict[str, Any]] | None:
        row = self._db.execute(
            "SELECT record_digest, flow_name, work_queue_name, record FROM deployments WHERE id = ?",
            (deployment_id,),
        ).fetchone()
        return (row[0], row[1], row[2], json.loads(row[3])) if row else None

    def claim(self, runner_id: str, queues: Sequence[str] | None, now: str, capacity: int) -> list[FlowRun]:
        if capacity <= 0:
            return []
        with self._write() as db:
            candidates = db.execute(
                "SELECT r.id, r.work_queue_name, r.deployment_id, q.concurrency_limit, d.concurrency_limit, "
                "q.paused FROM flow_runs r LEFT JOIN work_queues q ON q.name = r.work_queue_name "
                "LEFT JOIN deployments d ON d.id = r.deployment_id WHERE r.state_type = 'SCHEDULED' "
                "AND r.expected_start_time <= ? ORDER BY r.expected_start_time, r.rowid LIMIT ?",
                (now, capacity * 10 + 50),
            ).fetchall()
            busy_queue, busy_deployment = self._active_counts(db)
            chosen = []
            for run_id, queue, deployment, queue_limit, deployment_limit, paused in candidates:
                if (queues and queue not in queues) or paused:
                    continue
                if queue_limit is not None and busy_queue.get(queue, 0) >= queue_limit:
                    continue
                if deployment_limit is not None and busy_deployment.get(deployment, 0) >= deployment_limit:
                    continue
                busy_queue[queue] = busy_queue.get(queue, 0) + 1
                busy_deployment[deployment] = busy_deployment.get(deployment, 0) + 1
                self._transition(db, run_id, StateType.PENDING, "Pending", "", now, runner_id=runner_id)
                chosen.append(run_id)
                if len(chosen) >= capacity:
                    break
        return [r for r in (self.get(i) for i in chosen) if r is not None]

    @staticmethod
    def _active_counts(db: sqlite3.Connection) -> tuple[dict[str, int], dict[str, int]]:
        marks = ",".join("?" * len(_ACTIVE))
        rows = db.execute(
            f"SELECT work_queue_name, deployment_id, count(*) FROM flow_runs WHERE state_type IN "
            f"({marks}) GROUP BY 1, 2",
            _ACTIVE,
        ).fetchall()
        queues: dict[str, int] = {}
        deployments: dict[str, int] = {}
        for queue, deployment, count in rows:
            queues[queue] = queues.get(queue, 0) + count
            deployments[deployment] = deployments.get(deployment, 0) + count
        return queues, deployments

    def set_state(
        self, run_id: str, state: StateType, name: str, now: str, message: str = "", **columns: Any
    ) -> None:
        with self._write() as db:
            self._transition(db, run_id, state, name, message, now, **columns)

    def transition(
        self,
        run_id: str,
        allowed_from: Sequence[StateType],
        state: StateType,
        name: str,
        now: str,
        message: str = "",
        **columns: Any,
    ) -> bool:
        """``set_state`` only if the run is still in one of ``allowed_from``; False if it was not."""
        with self._write() as db:
            row = db.execute("SELECT state_type FROM flow_runs WHERE id = ?", (run_id,)).fetchone()
            if row is None or StateType(row[0]) not in allowed_from:
                return False
            self._transition(db, run_id, state, name, message, now, **columns)
            return True

    def request_cancel(self, run_id: str, now: str) -> FlowRun | None:
        """Atomically: a run not started is Cancelled, an active one Cancelling, a finished one kept."""
        with self._write() as db:
            row = db.execute("SELECT state_type FROM flow_runs WHERE id = ?", (run_id,)).fetchone()
            state = StateType(row[0]) if row else None
            if state is StateType.SCHEDULED:
                message = "cancelled before it started"
                self._transition(db, run_id, StateType.CANCELLED, "Cancelled", message, now, end_time=now)
            elif state in (StateType.PENDING, StateType.RUNNING):
                message = "cancellation requested"
                self._transition(db, run_id, StateType.CANCELLING, "Cancelling", message, now)
        return self.get(run_id)

    def _transition(
        self,
        db: sqlite3.Connection,
        run_id: str,
        state: StateType,
        name: str,
        message: str,
        now: str,
        **columns: Any,
    ) -> None:
        assignments = "".join(f", {column} = ?" for column in columns)
        db.execute(
            f"UPDATE flow_runs SET state_type = ?, state_name = ?, state_message = ?, updated_at = ?"
            f"{assignments} WHERE id = ?",
            (state.value, name, message, now, *columns.values(), run_id),
        )
        self._history(db, run_id, state, name, message, now)

    @staticmethod
    def _history(
        db: sqlite3.Connection, run_id: str, state: StateType, name: str, message: str, now: str
    ) -> None:
        db.execute(
            "INSERT INTO flow_run_states (run_id, timestamp, type, name, message) VALUES (?,?,?,?,?)",
            (run_id, now, state.value, name, message),
        )

    def states(self, run_id: str) -> list[dict[str, str]]:
        rows = self._db.execute(
            "SELECT timestamp, type, name, message FROM flow_run_states WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
        return [{"timestamp": r[0], "type": r[1], "name": r[2], "message": r[3]} for r in rows]

    def process_of(self, run_id: str) -> tuple[int | None, str | None]:
        """The process group and its leader's start time, as recorded when the run started."""
        row = self._db.execute("SELECT pid, process_start FROM flow_runs WHERE id = ?", (run_id,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    # -- logs --------------------------------------------------------------------------------

    def append_logs(self, run_id: str, lines: Sequence[tuple[str, str, str]]) -> None:
        """Append (timestamp, stream, line) rows, numbered after the run's last line."""
        if not lines:
            return
        with self._write() as db:
            (last,) = db.execute(
                "SELECT coalesce(max(seq), 0) FROM flow_run_logs WHERE run_id = ?", (run_id,)
            ).fetchone()
            db.executemany(
                "INSERT INTO flow_run_logs (run_id, seq, timestamp, stream, line) VALUES (?,?,?,?,?)",
                [(run_id, last + i + 1, *row) for i, row in enumerate(lines)],
            )

    def prune_logs(self, finished_before: str) -> int:
        """Delete the logs of runs that finished before ``finished_before``; how many lines went."""
        terminal = tuple(s.value for s in StateType if s.terminal)
        marks = ",".join("?" * len(terminal))
        with self._write() as db:
            cursor = db.execute(
                f"DELETE FROM flow_run_logs WHERE run_id IN (SELECT id FROM flow_runs WHERE state_type IN "
                f"({marks}) AND end_time IS NOT NULL AND end_time < ?)",
                (*terminal, finished_before),
            )
            return int(cursor.rowcount)

    def logs(self, run_id: str, after: int = 0, limit: int = 100_000) -> list[tuple[int, str, str, str]]:
        return self._db.execute(
            "SELECT seq, timestamp, stream, line FROM flow_run_logs WHERE run_id = ? AND seq > ? "
            "ORDER BY seq LIMIT ?",
            (run_id, after, limit),
        ).fetchall()

    # -- work queues -------------------------------------------------------------------------

    def list_queues(self) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(_ACTIVE))
        rows = self._db.execute(
            f"SELECT q.name, q.concurrency_limit, q.paused, (SELECT count(*) FROM flow_runs r WHERE "
            f"r.work_queue_name = q.name AND r.state_type IN ({marks})) FROM work_queues q ORDER BY q.name",
            _ACTIVE,
        ).fetchall()
        return [
            {"name": r[0], "concurrency_limit": r[1], "paused": bool(r[2]), "active_runs": r[3]} for r in rows
        ]

    def create_queue(self, name: str, now: str) -> bool:
        """Create an empty queue; False when it exists already."""
        with self._write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO work_queues (name, created_at) VALUES (?, ?)", (name, now)
            )
        return cursor.rowcount > 0

    def delete_queue(self, name: str) -> int | None:
        """Delete a queue no deployment uses: None when it is gone, else how many use it (0: deleted)."""
        with self._write() as db:
            if db.execute("SELECT 1 FROM work_queues WHERE name = ?", (name,)).fetchone() is None:
                return None
            (users,) = db.execute(
                "SELECT count(*) FROM deployments WHERE work_queue_name = ?", (name,)
            ).fetchone()
            if not users:
                db.execute("DELETE FROM work_queues WHERE name = ?", (name,))
        return int(users)

    def update_queue(self, name: str, now: str, **settings: Any) -> None:
        """Create the queue if needed and set ``concurrency_limit`` and/or ``paused``."""
        with self._write() as db:
            db.execute("INSERT OR IGNORE INTO work_queues (name, created_at) VALUES (?, ?)", (name, now))
            for column, value in settings.items():
                assert column in ("concurrency_limit", "paused")
                db.execute(f"UPDATE work_queues SET {column} = ? WHERE name = ?", (value, name))

    # -- runners -----------------------------------------------------------------------------

    def heartbeat(self, runner_id: str, pid: int, queues: Sequence[str] | None, now: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO runners (id, pid, queues, started_at, heartbeat_at) VALUES (?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                (runner_id, pid, json.dumps(list(queues or [])), now, now),
            )

    def runner_queues(self, fresh_after: str) -> list[tuple[str, ...]]:
        """The queues of each runner heard from after ``fresh_after`` (empty: every queue)."""
        rows = self._db.execute("SELECT queues FROM runners WHERE heartbeat_at > ?", (fresh_after,))
        return [tuple(json.loads(row[0])) for row in rows.fetchall()]

    def remove_runner(self, runner_id: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM runners WHERE id = ?", (runner_id,))

    def orphaned_runs(self, stale_before: str) -> list[FlowRun]:
        """Active runs whose runner stopped sending heartbeats (or never registered)."""
        marks = ",".join("?" * len(_ACTIVE))
        rows = self._db.execute(
            f"SELECT {', '.join('r.' + c.strip() for c in _RUN_COLUMNS.split(','))} FROM flow_runs r "
            f"LEFT JOIN runners w ON w.id = r.runner_id WHERE r.state_type IN ({marks}) "
            "AND (w.id IS NULL OR w.heartbeat_at < ?)",
            (*_ACTIVE, stale_before),
        ).fetchall()
        return [_run(r) for r in rows]
