"""What follows from writing a deployment's record, wherever the write comes from.

A sync and a schedule command both end here: the schedules table is rewritten, the
record is kept as a content-addressed snapshot that runs execute, and future auto-scheduled
runs are replaced when the schedules, parameters or pause changed, or else re-pointed at
the new snapshot (a new version or new tags keep their times). Called inside the caller's
transaction by ``controller.adapters.sqlite.registry`` and ``sqlite_runs``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.records import canonical_json, record_digest


def schedule_digest(record: dict[str, Any]) -> str:
    return record_digest(
        {"schedules": record["schedules"], "parameters": record["parameters"], "paused": record["paused"]}
    )


def schedule_digests_of(db: sqlite3.Connection, identities: Sequence[str]) -> dict[str, str | None]:
    """Each deployment's current schedule digest (absent: the deployment is new)."""
    found: dict[str, str | None] = {}
    for chunk in range(0, len(identities), 500):  # SQLite caps a statement's parameters
        part = identities[chunk : chunk + 500]
        found.update(
            db.execute(
                f"SELECT id, schedule_digest FROM deployments WHERE id IN ({','.join('?' * len(part))})", part
            ).fetchall()
        )
    return found


@dataclass(frozen=True)
class RecordWrite:
    """One deployment's record as written; ``record_json`` is its canonical JSON, made once."""

    identity: str
    record: dict[str, Any]
    record_json: str
    digest: str
    artifact_uri: str | None
    old_schedule_digest: str | None


def store_record_details(db: sqlite3.Connection, writes: Sequence[RecordWrite], now: str) -> None:
    """Schedules, work queues, snapshots and future runs of the deployments just written, one
    statement per kind of row for all of them (a cold sync writes thousands)."""
    new_digests = {w.identity: schedule_digest(w.record) for w in writes}
    db.executemany(
        "INSERT OR IGNORE INTO work_queues (name, created_at) VALUES (?, ?)",
        [(name, now) for name in sorted({w.record["work_queue_name"] for w in writes})],
    )
    db.executemany(
        "UPDATE deployments SET schedule_digest = ?, paused = ?, concurrency_limit = ?, catchup = ?, "
        "work_queue_name = ? WHERE id = ?",
        [
            (
                new_digests[w.identity],
                int(w.record["paused"]),
                w.record["concurrency_limit"],
                int(w.record["run_policy"]["catchup"]),
                w.record["work_queue_name"],
                w.identity,
            )
            for w in writes
        ],
    )
    db.executemany("DELETE FROM schedules WHERE deployment_id = ?", [(w.identity,) for w in writes])
    db.executemany(
        "INSERT INTO schedules (deployment_id, position, slug, kind, definition, active) "
        "VALUES (?,?,?,?,?,?)",
        [
            (w.identity, i, s["slug"], s["kind"], canonical_json(s), int(s["active"]))
            for w in writes
            for i, s in enumerate(w.record["schedules"])
        ],
    )
    db.executemany(
        "INSERT OR IGNORE INTO deployment_snapshots (digest, deployment_id, record, artifact_uri, "
        "created_at) VALUES (?,?,?,?,?)",
        [(w.digest, w.identity, w.record_json, w.artifact_uri, now) for w in writes],
    )
    # Every auto-scheduled run not yet started belongs to the old schedules, late ones included.
    db.executemany(
        "DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = 'SCHEDULED' AND auto_scheduled = 1",
        [
            (w.identity,)
            for w in writes
            if w.old_schedule_digest is not None and w.old_schedule_digest != new_digests[w.identity]
        ],
    )
    db.executemany(
        "UPDATE flow_runs SET snapshot = ?, updated_at = ? WHERE deployment_id = ? "
        "AND state_type = 'SCHEDULED' AND auto_scheduled = 1",
        [(w.digest, now, w.identity) for w in writes],
    )


def forget_scheduled_runs(db: sqlite3.Connection, identity: str) -> None:
    """A deleted deployment keeps its run history but none of its future runs."""
    db.execute("DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = 'SCHEDULED'", (identity,))
