"""The embedded backend's face: what ``sqlite:///PATH`` is, for ``app.BACKENDS``.

Everything lives in one SQLite file: the registry, each owner's lease, suspend flag and hold,
the history of passes, and the flow runs that deployctl's own scheduler and runner create and
execute; its events in ``events.db`` beside it.
"""

from __future__ import annotations

from pathlib import Path

from controller.adapters.sqlite.history import SqliteHistory
from controller.adapters.sqlite.lease import SqliteOwnerControl
from controller.adapters.sqlite.registry import SqliteRegistry, parse_sqlite_url
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.core.triggers import EMBEDDED_KINDS
from controller.ports import (
    Capabilities,
    EngineRuns,
    HistoryStore,
    HoldStore,
    OwnerControl,
    Registry,
    RunStore,
)

CAPABILITIES = Capabilities(
    supported_infrastructure=frozenset({"process"}),
    runs_triggers=True,  # Reactive event triggers, by the event pump of `up` and the controller's engine
    variables_writable=True,
    runs_flows_here=True,
    trigger_kinds=EMBEDDED_KINDS,
)


class SqliteBackend:
    capabilities = CAPABILITIES

    def __init__(self, url: str) -> None:
        self.url = url
        self.path: Path = parse_sqlite_url(url)

    def registry(self, create: bool = True) -> Registry:
        return SqliteRegistry(self.path, create)

    def owner_control(self, owner: str, holder: str, lease_seconds: float) -> OwnerControl:
        SqliteRunStore(self.path).close()  # every table migrated before the first write
        return SqliteOwnerControl(self.path, owner, holder, lease_seconds)

    def run_store(self) -> RunStore:
        return SqliteRunStore(self.path)

    def engine_runs(self) -> EngineRuns | None:
        return None  # its runs are the run store's

    def history(self, create: bool = True) -> HistoryStore:
        return SqliteHistory(self.path, create)

    def holds(self, create: bool = True) -> HoldStore:
        return SqliteHistory(self.path, create)
