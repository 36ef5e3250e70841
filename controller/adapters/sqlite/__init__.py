"""The embedded backend: one SQLite file holds the registry, the owners' leases and the runs
of deployctl's own scheduler and runner. Its face is ``backend.SqliteBackend``."""
