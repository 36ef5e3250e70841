"""What follows from writing a deployment's record, wherever the write comes from.

A sync and a schedule command both end here: the schedules table is rewritten, the
record is kept as a content-addressed snapshot that runs execute, and future auto-scheduled
runs are replaced when the schedules, parameters or pause changed, or else re-pointed at
the new snapshot (a new version or new tags keep their times). Called inside the caller's
transaction by ``controller.adapters.registry.sqlite`` and ``sqlite_runs``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from controller.core.records import canonical_json, record_digest


def schedule_digest(record: dict[str, Any]) -> str:
    return record_digest(
        {"schedules": record["schedules"], "parameters": record["parameters"], "paused": record["paused"]}
    )


def schedule_digest_of(db: sqlite3.Connection, identity: str) -> str | None:
    row = db.execute("SELECT schedule_digest FROM deployments WHERE id = ?", (identity,)).fetchone()
    return row[0] if row else None


def store_record_details(
    db: sqlite3.Connection,
    identity: str,
    record: dict[str, Any],
    digest: str,
    artifact_uri: str | None,
    old_schedule_digest: str | None,
    now: str,
) -> None:
    new_schedule_digest = schedule_digest(record)
    db.execute(
        "INSERT OR IGNORE INTO work_queues (name, created_at) VALUES (?, ?)", (record["work_queue_name"], now)
    )
    db.execute(
        "UPDATE deployments SET schedule_digest = ?, paused = ?, concurrency_limit = ?, catchup = ?, "
        "work_queue_name = ? WHERE id = ?",
        (
            new_schedule_digest,
            int(record["paused"]),
            record["concurrency_limit"],
            int(record["run_policy"]["catchup"]),
            record["work_queue_name"],
            identity,
        ),
    )
    db.execute("DELETE FROM schedules WHERE deployment_id = ?", (identity,))
    db.executemany(
        "INSERT INTO schedules (deployment_id, position, slug, kind, definition, active) "
        "VALUES (?,?,?,?,?,?)",
        [
            (identity, i, s["slug"], s["kind"], canonical_json(s), int(s["active"]))
            for i, s in enumerate(record["schedules"])
        ],
    )
    db.execute(
        "INSERT OR IGNORE INTO deployment_snapshots (digest, deployment_id, record, artifact_uri, "
        "created_at) VALUES (?,?,?,?,?)",
        (digest, identity, canonical_json(record), artifact_uri, now),
    )
    if old_schedule_digest is not None and old_schedule_digest != new_schedule_digest:
        # Every auto-scheduled run not yet started belongs to the old schedules, late ones included.
        db.execute(
            "DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = 'SCHEDULED' "
            "AND auto_scheduled = 1",
            (identity,),
        )
    db.execute(
        "UPDATE flow_runs SET snapshot = ?, updated_at = ? WHERE deployment_id = ? "
        "AND state_type = 'SCHEDULED' AND auto_scheduled = 1",
        (digest, now, identity),
    )


def forget_scheduled_runs(db: sqlite3.Connection, identity: str) -> None:
    """A deleted deployment keeps its run history but none of its future runs."""
    db.execute("DELETE FROM flow_runs WHERE deployment_id = ? AND state_type = 'SCHEDULED'", (identity,))
