"""The embedded registry read for the event pump: flow-run state changes in order, and triggers.

Every state change of a flow run is a row of ``flow_run_states``, numbered by an AUTOINCREMENT
``seq`` in commit order (writes are serialised by ``BEGIN IMMEDIATE``), so "the changes after
N" never misses one that commits later. The deployments' ``triggers:`` are read from their
records, again only when the registry's generation moved. Read-only; its own connection.
Called through ``StateFeed`` by ``controller.runtime.events``.
"""

from __future__ import annotations

import json
from pathlib import Path

from controller.adapters.sqlite.connection import RegistryConnection
from controller.core.events import StateChange
from controller.core.triggers import DeclaredTriggers


class SqliteStateFeed:
    """The embedded ``StateFeed`` (``controller.ports``)."""

    def __init__(self, path: Path) -> None:
        self.path, self.location = path, str(path)
        self._connection = RegistryConnection(path, create=False)
        self._db = self._connection.db
        self._generation: int | None = None
        self._declared: list[DeclaredTriggers] = []

    def close(self) -> None:
        self._connection.close()

    def changes_after(self, seq: int, limit: int) -> list[StateChange]:
        """A run's tags are the deployment's and its own, as Prefect gives a deployment's run."""
        rows = self._db.execute(
            "SELECT s.seq, s.run_id, r.name, r.flow_name, r.deployment_id, r.tags, "
            "json_extract(d.record, '$.tags'), s.type, s.name, s.message, s.timestamp, r.run_count, "
            "(SELECT json_array(p.type, p.name, p.message) FROM flow_run_states p "
            " WHERE p.run_id = s.run_id AND p.seq < s.seq ORDER BY p.seq DESC LIMIT 1) "
            "FROM flow_run_states s JOIN flow_runs r ON r.id = s.run_id "
            "LEFT JOIN deployments d ON d.id = r.deployment_id WHERE s.seq > ? ORDER BY s.seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [
            StateChange(
                r[0], r[1], r[2], r[3], r[4], _tags(r[6], r[5]), r[7], r[8], r[9], r[10], int(r[11] or 0),
                tuple(json.loads(r[12])) if r[12] else None,
            )
            for r in rows
        ]  # fmt: skip

    def last_change(self) -> int:
        row = self._db.execute("SELECT max(seq) FROM flow_run_states").fetchone()
        return int(row[0] or 0)

    def changes_before(self, since: str) -> int:
        query = "SELECT min(seq) FROM flow_run_states WHERE timestamp >= ?"
        row = self._db.execute(query, (since,)).fetchone()
        return self.last_change() if row[0] is None else int(row[0]) - 1

    def declared_triggers(self) -> list[DeclaredTriggers]:
        (generation,) = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if generation != self._generation:
            self._declared, self._generation = self._read_declared(), generation
        return self._declared

    def _read_declared(self) -> list[DeclaredTriggers]:
        rows = self._db.execute(
            "SELECT id, flow_name, record_digest, work_queue_name, paused, record FROM deployments "
            "WHERE json_array_length(record, '$.triggers') > 0 ORDER BY id"
        ).fetchall()
        out = []
        for deployment_id, flow_name, digest, queue, paused, record in rows:
            document = json.loads(record)
            out.append(
                DeclaredTriggers(
                    deployment_id,
                    flow_name,
                    digest,
                    queue,
                    document.get("parameters") or {},
                    bool(paused),
                    tuple(document["triggers"]),
                )
            )
        return out


def _tags(deployment: str | None, run: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*json.loads(deployment or "[]"), *json.loads(run or "[]")]))
