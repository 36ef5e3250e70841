"""Versioned schema of the embedded registry. Each migration runs once, in order, in a transaction.

Never edit a released migration: append a new one. ``meta.generation`` is bumped by triggers
on every change to deployments or schedules, whoever makes it, so "has anything changed since
the last apply" is one read. Migration 3 adds what the continuous controller keeps per owner:
the writer lease (holder and expiry) and the suspend flag. Migration 5 gives a run the tags
it was created with (``run_deployment(..., tags=...)``). Migration 9 keeps the history of
passes and each owner's hold.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta (key, value) VALUES ('generation', 0);

    CREATE TABLE flows (name TEXT PRIMARY KEY, created_at TEXT NOT NULL);

    CREATE TABLE work_queues (
        name TEXT PRIMARY KEY,
        concurrency_limit INTEGER,
        paused INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );

    CREATE TABLE deployments (
        id TEXT PRIMARY KEY,
        flow_name TEXT NOT NULL REFERENCES flows(name),
        name TEXT NOT NULL,
        record TEXT NOT NULL,
        record_digest TEXT NOT NULL,
        applied_digest TEXT,
        owner TEXT,
        source_file TEXT,
        version TEXT,
        commit_sha TEXT,
        branch TEXT,
        repo_url TEXT,
        input_digest TEXT,
        artifact_uri TEXT,
        paused INTEGER NOT NULL DEFAULT 0,
        work_queue_name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX deployments_owner ON deployments(owner);

    CREATE TABLE schedules (
        deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        slug TEXT,
        kind TEXT NOT NULL,
        definition TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (deployment_id, position)
    );

    CREATE TABLE inventory (
        owner TEXT NOT NULL,
        deployment_id TEXT NOT NULL,
        PRIMARY KEY (owner, deployment_id)
    );

    CREATE TABLE sources (
        owner TEXT PRIMARY KEY,
        repo_url TEXT NOT NULL,
        ref TEXT NOT NULL,
        path TEXT NOT NULL,
        last_attempted_revision TEXT,
        last_applied_revision TEXT,
        applied_generation INTEGER,
        conditions TEXT NOT NULL DEFAULT '[]',
        updated_at TEXT NOT NULL
    );

    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        revision TEXT,
        finished_at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        conditions TEXT NOT NULL,
        summary TEXT NOT NULL
    );

    CREATE TABLE sync_outcomes (
        sync_id INTEGER NOT NULL REFERENCES sync_runs(id) ON DELETE CASCADE,
        deployment_id TEXT NOT NULL,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (sync_id, deployment_id)
    );

    CREATE TRIGGER deployments_insert AFTER INSERT ON deployments
        BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER deployments_update AFTER UPDATE ON deployments
        BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER deployments_delete AFTER DELETE ON deployments
        BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    CREATE TRIGGER schedules_change AFTER UPDATE ON schedules
        BEGIN UPDATE meta SET value = value + 1 WHERE key = 'generation'; END;
    """,
    """
    ALTER TABLE deployments ADD COLUMN schedule_digest TEXT;
    ALTER TABLE deployments ADD COLUMN concurrency_limit INTEGER;
    ALTER TABLE deployments ADD COLUMN catchup INTEGER NOT NULL DEFAULT 0;

    CREATE TABLE deployment_snapshots (
        digest TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL,
        record TEXT NOT NULL,
        artifact_uri TEXT,
        created_at TEXT NOT NULL
    );

    CREATE TABLE flow_runs (
        id TEXT PRIMARY KEY,
        deployment_id TEXT NOT NULL,
        flow_name TEXT NOT NULL,
        name TEXT NOT NULL,
        snapshot TEXT NOT NULL REFERENCES deployment_snapshots(digest),
        idempotency_key TEXT UNIQUE,
        auto_scheduled INTEGER NOT NULL DEFAULT 0,
        schedule_slug TEXT,
        parameters TEXT NOT NULL,
        work_queue_name TEXT NOT NULL,
        state_type TEXT NOT NULL,
        state_name TEXT NOT NULL,
        state_message TEXT NOT NULL DEFAULT '',
        expected_start_time TEXT NOT NULL,
        start_time TEXT,
        end_time TEXT,
        run_count INTEGER NOT NULL DEFAULT 0,
        runner_id TEXT,
        pid INTEGER,
        process_start TEXT,
        signal_sent_at TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX flow_runs_due ON flow_runs(state_type, expected_start_time);
    CREATE INDEX flow_runs_deployment ON flow_runs(deployment_id, state_type, auto_scheduled);

    CREATE TABLE flow_run_states (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        type TEXT NOT NULL,
        name TEXT NOT NULL,
        message TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX flow_run_states_run ON flow_run_states(run_id);

    CREATE TABLE flow_run_logs (
        run_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        timestamp TEXT NOT NULL,
        stream TEXT NOT NULL,
        line TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );

    CREATE TABLE runners (
        id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        queues TEXT NOT NULL,
        started_at TEXT NOT NULL,
        heartbeat_at TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE leases (
        owner TEXT PRIMARY KEY,
        holder TEXT NOT NULL,
        acquired_at REAL NOT NULL,
        renewed_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );

    CREATE TABLE owner_controls (
        owner TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL DEFAULT 0,
        refresh_requests INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
    );
    """,
    """
    CREATE TABLE variables (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE flow_runs ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
    """,
    # what an incremental pass asks without reading records: whose deployments a manifest
    # declares, and whose entrypoint may leave its folder (as ``records.entry_leaves_folder``);
    # filling in a derived column is no change to a deployment: the generation stays
    """
    ALTER TABLE deployments ADD COLUMN entry_outside INTEGER NOT NULL DEFAULT 1;
    CREATE TEMP TABLE generation_kept AS SELECT value FROM meta WHERE key = 'generation';
    UPDATE deployments SET entry_outside = coalesce(
        (SELECT instr(e, '..') > 0 OR substr(e, 1, 1) = '/' OR instr(e, char(92)) > 0
         FROM (SELECT json_extract(record, '$.entrypoint') AS e)),
        1
    );
    UPDATE meta SET value = (SELECT value FROM generation_kept) WHERE key = 'generation';
    DROP TABLE generation_kept;
    DROP INDEX deployments_owner;
    CREATE INDEX deployments_owner_file ON deployments(owner, source_file);
    CREATE INDEX deployments_owner_outside ON deployments(owner, entry_outside);
    """,
    # records now say when a code folder holds a symlink (``code_links``), which older records
    # do not: the next pass of every source is a full one, and records what it finds
    """
    UPDATE sources SET applied_generation = NULL;
    """,
    # the repository an owner's applied revision came from (``Snapshot.identity``): another
    # repository under the same owner is refused whatever its ref; NULL until the next apply
    """
    ALTER TABLE sources ADD COLUMN identity TEXT;
    """,
    # the history of passes (``deployctl history``), each pass one row of JSON and one row per
    # deployment it wrote (``deployctl deployment history``); and the hold a rollback puts on
    # an owner, beside its suspend flag
    """
    CREATE TABLE IF NOT EXISTS passes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS passes_owner ON passes(owner, id);
    CREATE TABLE IF NOT EXISTS pass_changes (
        pass_id INTEGER NOT NULL REFERENCES passes(id) ON DELETE CASCADE,
        deployment_id TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS pass_changes_pass ON pass_changes(pass_id);
    CREATE INDEX IF NOT EXISTS pass_changes_deployment ON pass_changes(deployment_id, pass_id);
    CREATE TABLE IF NOT EXISTS owner_holds (
        owner TEXT PRIMARY KEY,
        revision TEXT NOT NULL,
        since TEXT NOT NULL
    );
    """,
)
