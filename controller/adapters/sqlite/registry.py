"""The embedded registry: deployments, schedules, inventory and sync history in one SQLite file.

WAL mode and ``BEGIN IMMEDIATE`` make it safe for several processes on one machine (a CLI
call beside a running controller); a whole plan is applied in one transaction, so a crash at
any moment leaves the old state or the new. Owned by the app's composition root; the
reconciler and the services see it through ``controller.ports.Registry``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from controller.adapters.sqlite.connection import RegistryConnection
from controller.adapters.sqlite.records import (
    RecordWrite,
    forget_scheduled_runs,
    schedule_digests_of,
    store_record_details,
)
from controller.adapters.sqlite.schema import MIGRATIONS
from controller.core.plan import Action, Change, Plan
from controller.core.records import canonical_json, entry_leaves_folder, record_digest, to_record
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import ActualDeployment, Condition, SourceStatus
from controller.core.status import after_apply
from controller.errors import ConfigError, RegistryMoved, RegistryUnavailable
from controller.ports import (
    Admission,
    Application,
    DeploymentRow,
    KnownVersion,
    OwnedSummary,
    RegistryState,
    SyncOutcome,
)

_STATE_COLUMNS = (
    "d.id, d.record, d.record_digest, d.applied_digest, d.owner, d.source_file, d.version, "
    "d.input_digest, d.commit_sha"
)
_PART_LIMIT = 20_000
"""More manifests and identities than this in one part: one whole read is cheaper (and SQLite
takes at most 32,766 parameters in a statement)."""

_Seen = tuple[int, tuple[str | None, str | None] | None]
"""What a plan was made from: the generation, and the owner's (applied revision, identity)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def parse_sqlite_url(url: str) -> Path:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///"))
    raise ConfigError(f"registry URL {url!r}: use sqlite:///PATH (three slashes, then the path)")


class SqliteRegistry:
    def __init__(self, path: Path, create: bool = True) -> None:
        self.path = path
        self.location = str(path)
        self._planned_at: dict[str, _Seen] = {}  # owner -> what its last plan was made from
        self._connection = RegistryConnection(path, create)
        self._db = self._connection.db
        self._write = self._connection.write
        try:
            self._migrate()
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot migrate the registry {path}: {exc}") from exc

    def close(self) -> None:
        self._connection.close()

    def admit(self, specs: Mapping[DeploymentId, DeploymentSpec], options: Mapping[str, Any]) -> Admission:
        """Everything declared is taken as it is: work pools mean nothing to the embedded engine,
        and infrastructure it cannot run is refused by the backend's ``Capabilities``."""
        return Admission(specs)

    def _migrate(self) -> None:
        """Bring the schema up to date; each step re-reads the version inside its write
        transaction, so two processes opening a new registry at once migrate it once."""
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        self._refuse_newer(version)
        while version < len(MIGRATIONS):
            with self._write() as db:
                (version,) = db.execute("PRAGMA user_version").fetchone()
                self._refuse_newer(version)
                if version < len(MIGRATIONS):
                    for statement in _statements(MIGRATIONS[version]):
                        db.execute(statement)
                    version += 1
                    db.execute(f"PRAGMA user_version = {version}")

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise ConfigError(
                f"the registry {self.path} has schema {version}, newer than this deployctl "
                f"knows ({len(MIGRATIONS)}): upgrade deployctl"
            )

    # -- reading ---------------------------------------------------------------------------

    def generation(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])

    def read_status(self, owner: str) -> SourceStatus | None:
        row = self._db.execute(
            "SELECT owner, repo_url, ref, path, last_attempted_revision, last_applied_revision, "
            "applied_generation, conditions, updated_at, identity FROM sources WHERE owner = ?",
            (owner,),
        ).fetchone()
        if row is None:
            return None
        conditions = tuple(Condition.from_json(c) for c in json.loads(row[7]))
        return SourceStatus(*row[:7], conditions=conditions, updated_at=row[8], identity=row[9])  # type: ignore[misc]

    def list_statuses(self) -> list[SourceStatus]:
        owners = [r[0] for r in self._db.execute("SELECT owner FROM sources ORDER BY owner")]
        return [s for s in (self.read_status(o) for o in owners) if s is not None]

    def read_state(self, owner: str) -> RegistryState:
        return self._read(owner, "", ())

    def owned_summary(self, owner: str, names: Collection[str]) -> OwnedSummary:
        """Counted exactly (inventory and marker); the files are named from the marker alone,
        which can only name more of them: more is read again, never less."""
        try:
            ((count,),) = self._db.execute(
                "SELECT count(*) FROM inventory i JOIN deployments d ON d.id = i.deployment_id "
                "WHERE i.owner = ? AND d.owner = i.owner",
                (owner,),
            )
            outside = self._db.execute(
                "SELECT DISTINCT source_file FROM deployments INDEXED BY deployments_owner_outside "
                "WHERE owner = ? AND entry_outside = 1",
                (owner,),
            ).fetchall()
            named = [
                row
                for name in names
                for row in self._db.execute(
                    "SELECT DISTINCT source_file FROM deployments WHERE owner = ? AND "
                    "(source_file = ? OR substr(source_file, -?) = ?)",
                    (owner, name, len(name) + 1, "/" + name),
                )
            ]
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot read the registry {self.path}: {exc}") from exc
        outside_files = frozenset(r[0] or "" for r in outside)
        return OwnedSummary(self.generation(), count, outside_files, frozenset(r[0] for r in named))

    def read_declared(self, owner: str, state: RegistryState, ids: Collection[DeploymentId]) -> RegistryState:
        """``read_state`` already holds every deployment, whoever owns it."""
        return state

    def read_part(self, owner: str, files: Collection[str], ids: Collection[DeploymentId]) -> RegistryState:
        if len(files) + len(ids) > _PART_LIMIT:  # a large part costs less read whole
            return self.read_state(owner).part(owner, files, ids)
        where = (
            f"WHERE (d.owner = ? AND d.source_file IN ({','.join('?' * len(files))})) "
            f"OR d.id IN ({','.join('?' * len(ids))})"
        )
        return self._read(owner, where, (owner, *files, *ids))

    def _read(self, owner: str, where: str, args: Sequence[str]) -> RegistryState:
        """The deployments ``where`` selects, each marked if the owner's inventory lists it,
        with the status and the generation, in one transaction (the apply's compare-and-swap)."""
        try:
            self._db.execute("BEGIN")
            try:
                rows = self._db.execute(
                    f"SELECT {_STATE_COLUMNS}, i.deployment_id IS NOT NULL FROM deployments d "
                    f"LEFT JOIN inventory i ON i.owner = ? AND i.deployment_id = d.id {where}",
                    (owner, *args),
                ).fetchall()
                generation = self.generation()
                status = self.read_status(owner)
            finally:  # a long-lived controller must never be left inside this transaction
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot read the registry {self.path}: {exc}") from exc
        self._planned_at[owner] = (generation, _applied_from(status))
        actual = {DeploymentId(r[0]): ActualDeployment(DeploymentId(r[0]), *r[1:7]) for r in rows}
        known = {DeploymentId(r[0]): KnownVersion(r[7], r[6], r[8]) for r in rows if r[4] == owner and r[7]}
        inventory = frozenset(DeploymentId(r[0]) for r in rows if r[9])
        return RegistryState(actual, inventory, status, generation, known)

    def list_deployments(self) -> list[DeploymentRow]:
        return self._deployments("", ())

    def find_deployments(self, text: str, offset: int, limit: int) -> tuple[int, list[DeploymentRow]]:
        """Only the page's records are read: 10,000 parsed records were most of a page's time."""
        where, args = "", tuple[str, ...]()
        if text:
            pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"
            columns = ("id", "owner", "version", "commit_sha")
            where = "WHERE " + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in columns)
            args = (pattern,) * len(columns)
        (total,) = self._db.execute(f"SELECT count(*) FROM deployments {where}", args).fetchone()
        page = f"SELECT id FROM deployments {where} ORDER BY id LIMIT {int(limit)} OFFSET {int(offset)}"
        return total, self._deployments(f"WHERE id IN ({page})", args)

    def get_deployment(self, identity: str) -> DeploymentRow | None:
        found = self._deployments("WHERE id = ?", (identity,))
        return found[0] if found else None

    def _deployments(self, where: str, args: tuple[str, ...]) -> list[DeploymentRow]:
        rows = self._db.execute(
            "SELECT id, flow_name, name, version, commit_sha, branch, repo_url, owner, paused, "
            f"work_queue_name, source_file, artifact_uri, updated_at, record FROM deployments {where} "
            "ORDER BY id",
            args,
        ).fetchall()
        return [
            DeploymentRow(
                id=r[0],
                flow_name=r[1],
                name=r[2],
                version=r[3],
                commit_sha=r[4],
                branch=r[5],
                repo_url=r[6],
                owner=r[7],
                paused=bool(r[8]),
                work_queue_name=r[9],
                source_file=r[10],
                artifact_uri=r[11],
                updated_at=r[12],
                record=json.loads(r[13]),
            )
            for r in rows
        ]

    def last_outcomes(self, owner: str, failed_only: bool = False) -> list[SyncOutcome]:
        """What the owner's most recent pass did to each deployment it changed."""
        rows = self._db.execute(
            "SELECT deployment_id, action, outcome, message FROM sync_outcomes WHERE sync_id = "
            "(SELECT max(id) FROM sync_runs WHERE owner = ?) AND (? = 0 OR outcome = 'failed') "
            "ORDER BY deployment_id",
            (owner, failed_only),
        ).fetchall()
        return [SyncOutcome(*r) for r in rows]

    def read_variables(self) -> dict[str, str]:
        try:
            return dict(self._db.execute("SELECT name, value FROM variables ORDER BY name").fetchall())
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot read variables from the registry {self.path}: {exc}") from exc

    # -- writing ---------------------------------------------------------------------------

    def set_variable(self, name: str, value: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO variables (name, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (name, value, _now()),
            )

    def delete_variable(self, name: str) -> bool:
        with self._write() as db:
            return db.execute("DELETE FROM variables WHERE name = ?", (name,)).rowcount > 0

    def apply(self, plan: Plan, app: Application) -> dict[DeploymentId, str]:
        """Apply ``plan`` in one transaction; return deployment -> outcome message of failures."""
        failures: dict[DeploymentId, str] = {}
        try:
            with self._write() as db:
                self._require_unchanged(db, app.owner)
                foreign = {
                    r[0]
                    for r in db.execute(
                        "SELECT id FROM deployments WHERE owner IS NULL OR owner != ?", (app.owner,)
                    )
                }
                upserts = [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE)]
                for change in upserts:
                    if change.id in foreign:
                        failures[change.id] = "taken by another owner since the plan was made"
                writes = [c for c in upserts if c.id not in failures]
                self._upsert(db, writes, app)
                for change in plan.of(Action.DELETE):
                    forget_scheduled_runs(db, change.id)
                    db.execute("DELETE FROM deployments WHERE id = ? AND owner = ?", (change.id, app.owner))
                    db.execute(
                        "DELETE FROM inventory WHERE owner = ? AND deployment_id = ?", (app.owner, change.id)
                    )
                done = replace(app, conditions=after_apply(app.conditions, plan.writes, failures))
                self._record(db, done, plan, failures, applied=True)
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"applying to the registry {self.path} failed: {exc}") from exc
        return failures

    def _require_unchanged(self, db: sqlite3.Connection, owner: str) -> None:
        """Compare-and-swap: apply a plan, or record a plan of no changes as applied, only to the
        state it was made from: the same generation, and the owner's status still naming the
        same applied revision and repository (two syncs never mix, and the status never names
        a commit whose deployments the registry does not hold)."""
        (now,) = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        row = db.execute(
            "SELECT last_applied_revision, identity FROM sources WHERE owner = ?", (owner,)
        ).fetchone()
        planned = self._planned_at.get(owner)
        if planned is not None and (int(now), tuple(row) if row else None) != planned:
            raise RegistryMoved(
                f"the registry {self.path} changed while this plan was made (another sync or an "
                "edit): nothing was applied; plan and sync again"
            )

    def _upsert(self, db: sqlite3.Connection, changes: Sequence[Change], app: Application) -> None:
        """Write the created and updated deployments, one statement per kind of row."""
        now = _now()
        specs = [c.desired for c in changes if c.desired is not None]
        old_digests = schedule_digests_of(db, [s.id for s in specs])
        db.executemany(
            "INSERT OR IGNORE INTO flows (name, created_at) VALUES (?, ?)",
            [(name, now) for name in sorted({s.flow_name for s in specs})],
        )
        writes, rows = [], []
        for change in changes:
            spec, digest, extra = change.desired, change.desired_digest, app.deployments[change.id]
            assert spec is not None and digest is not None
            record, record_json = to_record(spec), spec.record_json
            writes.append(
                RecordWrite(
                    spec.id, record, record_json, digest, extra.artifact_uri, old_digests.get(spec.id)
                )
            )
            rows.append(
                (
                    spec.id,
                    spec.flow_name,
                    spec.name,
                    record_json,
                    digest,
                    digest,
                    app.owner,
                    spec.source.file,
                    spec.version,
                    extra.commit,
                    app.ref,
                    app.repo_url,
                    extra.input_digest,
                    extra.artifact_uri,
                    spec.work_queue_name,
                    entry_leaves_folder(record_json),
                    now,
                    now,
                )
            )
        db.executemany(
            "INSERT INTO deployments (id, flow_name, name, record, record_digest, applied_digest, owner, "
            "source_file, version, commit_sha, branch, repo_url, input_digest, artifact_uri, "
            "work_queue_name, entry_outside, created_at, updated_at) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET flow_name=excluded.flow_name, record=excluded.record, "
            "record_digest=excluded.record_digest, applied_digest=excluded.applied_digest, "
            "source_file=excluded.source_file, version=excluded.version, commit_sha=excluded.commit_sha, "
            "branch=excluded.branch, repo_url=excluded.repo_url, input_digest=excluded.input_digest, "
            "artifact_uri=excluded.artifact_uri, entry_outside=excluded.entry_outside, "
            "updated_at=excluded.updated_at",
            rows,
        )
        store_record_details(db, writes, now)
        db.executemany(
            "INSERT OR IGNORE INTO inventory (owner, deployment_id) VALUES (?, ?)",
            [(app.owner, s.id) for s in specs],
        )

    def record_status(self, app: Application, plan: Plan | None, applied: bool) -> bool:
        """Record a pass that wrote no deployment; write only when the status changed. True if
        written. A plan of no changes is recorded as applied under the apply's compare-and-swap."""
        current = self.read_status(app.owner)
        generation = self.generation()
        # where the source is (URL, ref, path) is written only with an applied revision
        unchanged = current is not None and (
            current.last_attempted_revision == (app.revision or current.last_attempted_revision)
            and tuple(current.conditions) == tuple(app.conditions)
            and (
                not applied
                or (
                    current.last_applied_revision == app.revision
                    and current.applied_generation == generation
                    and (current.repo_url, current.ref, current.path) == (app.repo_url, app.ref, app.path)
                    and current.identity == app.identity
                )
            )
        )
        if unchanged:
            return False
        try:
            with self._write() as db:
                if applied:
                    self._require_unchanged(db, app.owner)
                self._record(db, app, plan, {}, applied=applied)
        except sqlite3.Error as exc:
            raise RegistryUnavailable(f"cannot record status in {self.path}: {exc}") from exc
        return True

    def _record(
        self,
        db: sqlite3.Connection,
        app: Application,
        plan: Plan | None,
        failures: Mapping[DeploymentId, str],
        applied: bool,
    ) -> None:
        now = _now()
        generation = int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
        conditions = json.dumps([c.to_json() for c in app.conditions])
        applied_all = applied and not failures  # the revision is applied when every write succeeded
        db.execute(
            "INSERT INTO sources (owner, repo_url, ref, path, last_attempted_revision, "
            "last_applied_revision, applied_generation, conditions, updated_at, identity) "
            "VALUES (?,?,?,?,?,?,?,?,?,?) "
            # Where the source is (URL, ref, path) belongs with what was applied from it: a refused
            # attempt on another ref must not make the applied commit look like that ref's.
            "ON CONFLICT(owner) DO UPDATE SET "
            "repo_url=iif(excluded.last_applied_revision IS NULL, sources.repo_url, excluded.repo_url), "
            "ref=iif(excluded.last_applied_revision IS NULL, sources.ref, excluded.ref), "
            "path=iif(excluded.last_applied_revision IS NULL, sources.path, excluded.path), "
            "identity=iif(excluded.last_applied_revision IS NULL, sources.identity, excluded.identity), "
            # no revision: the source could not be read, and what was last attempted stays
            "last_attempted_revision="
            "COALESCE(excluded.last_attempted_revision, sources.last_attempted_revision), "
            "last_applied_revision="
            "COALESCE(excluded.last_applied_revision, sources.last_applied_revision), "
            "applied_generation=COALESCE(excluded.applied_generation, sources.applied_generation), "
            "conditions=excluded.conditions, updated_at=excluded.updated_at",
            (
                app.owner,
                app.repo_url,
                app.ref,
                app.path,
                app.revision,
                app.revision if applied_all else None,
                generation if applied_all else None,
                conditions,
                now,
                app.identity if applied_all else None,
            ),
        )
        if app.revision is None:
            return  # not a pass over a commit: the history and the last outcomes stay
        summary = json.dumps(plan.counts if plan else {})
        outcome = "applied" if applied and not failures else ("partial" if applied else "refused")
        cursor = db.execute(
            "INSERT INTO sync_runs (owner, revision, finished_at, outcome, conditions, summary) "
            "VALUES (?,?,?,?,?,?)",
            (app.owner, app.revision, now, outcome, conditions, summary),
        )
        if plan is not None:
            db.executemany(
                "INSERT INTO sync_outcomes (sync_id, deployment_id, action, outcome, message) "
                "VALUES (?,?,?,?,?)",
                [
                    (
                        cursor.lastrowid,
                        c.id,
                        c.action.value,
                        "failed" if c.id in failures else ("applied" if applied else "not applied"),
                        failures.get(c.id, c.cause.value),
                    )
                    for c in plan.changes
                    if c.action is not Action.NOOP
                ],
            )

    def edit_record(self, identity: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change a deployment's record in place (schedule commands). This is drift from git:
        the next sync reports it and restores what git declares."""
        with self._write() as db:
            row = db.execute(
                "SELECT record, artifact_uri, schedule_digest FROM deployments WHERE id = ?", (identity,)
            ).fetchone()
            if row is None:
                raise KeyError(identity)
            record: dict[str, Any] = json.loads(row[0])
            edit(record)
            digest = record_digest(record)
            now = _now()
            write = RecordWrite(identity, record, canonical_json(record), digest, row[1], row[2])
            db.execute(
                "UPDATE deployments SET record = ?, record_digest = ?, updated_at = ? WHERE id = ?",
                (write.record_json, digest, now, identity),
            )
            store_record_details(db, [write], now)
        return record

    def delete_deployment(self, identity: str) -> bool:
        with self._write() as db:
            forget_scheduled_runs(db, identity)
            cursor = db.execute("DELETE FROM deployments WHERE id = ?", (identity,))
            db.execute("DELETE FROM inventory WHERE deployment_id = ?", (identity,))
        return cursor.rowcount > 0


def _applied_from(status: SourceStatus | None) -> tuple[str | None, str | None] | None:
    """As ``_require_unchanged`` reads the owner's row: None when there is none."""
    return None if status is None else (status.last_applied_revision, status.identity)


def _statements(script: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies whole."""
    out, buffer = [], ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            out.append(buffer.strip())
            buffer = ""
    return out
