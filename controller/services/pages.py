"""What each status page shows: plain view models read from a backend, secrets already masked.

The pages are read-only: this module only lists and gets. Each call opens its own registry
connection and closes it (the HTTP servers are threaded). Values whose key looks secret
(``SECRET_KEY``) become ``***`` and URL credentials are cut out before anything reaches a
template, so no template can show one. Called by ``controller.runtime.pages_http``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from controller.core.environment import is_secret_variable
from controller.core.history import Hold, PassRecord
from controller.core.redaction import redact
from controller.core.runs import FlowRun, StateType
from controller.core.state import ConditionType, Reason, SourceStatus
from controller.ports import Backend, DeploymentRow, HistoryStore, HoldStore, Registry, RunStore

PAGE_SIZE = 50
MASK = "***"
SECRET_KEY = re.compile(r"secret|token|passw|api_?key|private_?key|credential|auth(?!or)", re.IGNORECASE)
REFUSALS = frozenset({Reason.VALIDATION_FAILED, Reason.PRUNE_BLOCKED, Reason.CONFLICT})
LAST_PASSES = 3  # each owner's, on the overview
CHANGES_SHOWN = 100  # of one pass, on the passes page (a first sync may write thousands)
RUNS_SCANNED = 150  # per deployment on the list: past the scheduler's 100 runs ahead to the last one


@dataclass(frozen=True)
class PassLine:
    owner: str
    trigger: str
    outcome: str
    revision: str | None
    started_at: str
    duration: str
    changed: str  # "2 create, 1 update" or "none"
    source: str  # repository · ref · path
    changes: tuple[tuple[str, str, str | None, str | None], ...]  # deployment, action, version, error
    more: int  # its changes beyond CHANGES_SHOWN, counted only
    refusals: tuple[str, ...]  # each "file:line: ..." as the pass said it
    error: str | None


@dataclass(frozen=True)
class PassList:
    owner: str  # the filter, "" for every owner
    owners: tuple[str, ...]
    page: int
    older: bool  # whether a next page holds older passes
    lines: tuple[PassLine, ...]


@dataclass(frozen=True)
class RevisionLine:
    """One pass that wrote a deployment: what it did to it and with which version."""

    started_at: str
    action: str
    version: str | None
    revision: str | None
    owner: str
    trigger: str
    outcome: str
    error: str | None


@dataclass(frozen=True)
class SourceLine:
    owner: str
    repository: str
    ref: str
    path: str
    applied: str | None
    attempted: str | None
    health: str  # "ready", "refused", "failing", "reconciling"
    reason: str
    message: str
    suspended: bool | None
    held: Hold | None
    last_pass: str | None
    deployments: int  # owned
    last_passes: tuple[PassLine, ...]


@dataclass(frozen=True)
class Overview:
    registry: str
    sources: tuple[SourceLine, ...]


@dataclass(frozen=True)
class RunLine:
    id: str
    name: str
    state: str
    state_type: str
    expected_start: str
    start: str | None
    end: str | None


@dataclass(frozen=True)
class DeploymentLine:
    identity: str
    version: str | None
    commit: str | None
    owner: str | None
    schedules: tuple[str, ...]
    paused: bool
    next_run: str | None
    last_run: RunLine | None


@dataclass(frozen=True)
class DeploymentList:
    registry: str
    query: str
    page: int
    pages: int
    total: int
    lines: tuple[DeploymentLine, ...]
    runs_here: bool


@dataclass(frozen=True)
class DeploymentDetail:
    identity: str
    description: str
    facts: tuple[tuple[str, str], ...]
    schedules: tuple[str, ...]
    parameters: str
    record: str
    runs: tuple[RunLine, ...]
    runs_here: bool
    held: Hold | None
    history: tuple[RevisionLine, ...]


@dataclass(frozen=True)
class RunDetail:
    run: RunLine
    deployment: str
    message: str
    parameters: str
    states: tuple[tuple[str, str, str], ...]  # timestamp, name, message
    logs: tuple[tuple[str, str, str], ...]  # timestamp, stream, line
    finished: bool


@dataclass
class Site:
    """The pages' reads, over one backend; each method is one page."""

    backend: Backend

    def overview(self) -> Overview:
        with self._registry() as registry, self._history() as history, self._holds() as holds:
            lines = tuple(self._source_line(registry, history, holds, s) for s in registry.list_statuses())
            return Overview(registry.location, lines)

    def passes(self, owner: str = "", page: int = 1) -> PassList:
        """The history, newest first, ``PAGE_SIZE`` a page, of one owner or (``""``) all."""
        with self._registry() as registry, self._history() as history:
            owners = tuple(sorted(s.owner for s in registry.list_statuses()))
            page = max(page, 1)
            # one more than a page: whether there is an older page
            found = history.list_passes(owner or None, PAGE_SIZE + 1, (page - 1) * PAGE_SIZE)
            lines = tuple(_pass_line(p) for p in found[:PAGE_SIZE])
            return PassList(owner, owners, page, len(found) > PAGE_SIZE, lines)

    def deployments(self, query: str = "", page: int = 1) -> DeploymentList:
        with self._registry() as registry, self._runs() as runs:
            page = max(page, 1)
            total, shown = registry.find_deployments(query, (page - 1) * PAGE_SIZE, PAGE_SIZE)
            pages = max(1, math.ceil(total / PAGE_SIZE))
            if page > pages:  # past the end: the last page
                page = pages
                total, shown = registry.find_deployments(query, (page - 1) * PAGE_SIZE, PAGE_SIZE)
            lines = tuple(_deployment_line(d, runs) for d in shown)
            return DeploymentList(registry.location, query, page, pages, total, lines, runs is not None)

    def deployment(self, identity: str) -> DeploymentDetail:
        from controller.services.deployments import Deployments

        with self._registry() as registry, self._runs() as runs:
            row = Deployments(registry).get(identity)
            found = runs.list_runs(identity, None, PAGE_SIZE) if runs is not None else []
            detail = _deployment_detail(row, tuple(_run_line(r) for r in found), runs is not None)
        with self._history() as history, self._holds() as holds:
            held = holds.read_hold(row.owner) if row.owner else None
            passes = history.passes_of(row.id, PAGE_SIZE)
        return replace(detail, held=held, history=_revision_lines(row.id, passes))

    def run(self, run_id: str) -> RunDetail | None:
        """None where the backend's runs are not deployctl's own (a Prefect server's)."""
        from controller.services.runs import Runs

        with self._runs() as store:
            if store is None:
                return None
            runs = Runs(store)
            found = runs.get(run_id)
            states = tuple((s["timestamp"], s["name"], mask_text(s["message"])) for s in runs.states(found))
            logs = tuple((t, stream, mask_text(line)) for t, stream, line in runs.logs(found))
            return RunDetail(
                _run_line(found),
                found.deployment_id,
                mask_text(found.state_message),
                _json(masked(found.parameters)),
                states,
                logs,
                found.finished,
            )

    def _registry(self) -> AbstractContextManager[Registry]:
        return _closing(self.backend.registry(create=False))

    def _history(self) -> AbstractContextManager[HistoryStore]:
        return _closing(self.backend.history(create=False))

    def _holds(self) -> AbstractContextManager[HoldStore]:
        return _closing(self.backend.holds(create=False))

    def _runs(self) -> AbstractContextManager[RunStore | None]:
        return _closing(self.backend.run_store() if self.backend.capabilities.runs_flows_here else None)

    def _source_line(
        self, registry: Registry, history: HistoryStore, holds: HoldStore, status: SourceStatus
    ) -> SourceLine:
        health, reason, message = _health(status)
        return SourceLine(
            status.owner,
            mask_text(status.repo_url),
            status.ref,
            status.path,
            status.last_applied_revision,
            status.last_attempted_revision,
            health,
            reason,
            mask_text(message),
            self._suspended(status.owner),
            holds.read_hold(status.owner),
            status.updated_at,
            registry.owned_summary(status.owner, ()).count,  # counted, not read
            tuple(_pass_line(p) for p in history.list_passes(status.owner, LAST_PASSES)),
        )

    def _suspended(self, owner: str) -> bool | None:
        control = self.backend.owner_control(owner, "status-pages", 0.0)
        try:
            return control.suspended()
        finally:
            control.close()


class _Closable(Protocol):
    def close(self) -> None: ...


_Store = TypeVar("_Store", bound=_Closable | None)


@contextmanager
def _closing(store: _Store) -> Iterator[_Store]:
    """``store``, closed on leaving (each page opens its own: the servers are threaded)."""
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def _health(status: SourceStatus) -> tuple[str, str, str]:
    """(health, reason, message) from the conditions: what a reader wants first."""
    by_type = {c.type: c for c in status.conditions}
    ready = by_type.get(ConditionType.READY)
    if ready is not None and ready.status:
        return "ready", ready.reason.value, ready.message
    stalled = by_type.get(ConditionType.STALLED)
    cause = stalled if stalled is not None and stalled.status else ready
    if cause is None:
        return "reconciling", "", ""
    health = "refused" if cause.reason in REFUSALS else "failing"
    return health, cause.reason.value, cause.message


def _deployment_line(row: DeploymentRow, runs: RunStore | None) -> DeploymentLine:
    next_run, last_run = None, None
    if runs is not None:
        recent = runs.list_runs(row.id, None, RUNS_SCANNED)
        upcoming = [r.expected_start_time for r in recent if r.state_type is StateType.SCHEDULED]
        next_run = min(upcoming, default=None)
        last_run = next((_run_line(r) for r in recent if r.state_type is not StateType.SCHEDULED), None)
    return DeploymentLine(
        row.id,
        row.version,
        row.commit_sha,
        row.owner,
        _schedules(row.record),
        row.paused,
        next_run,
        last_run,
    )


def _deployment_detail(row: DeploymentRow, runs: tuple[RunLine, ...], runs_here: bool) -> DeploymentDetail:
    facts = (
        ("version", row.version or "-"),
        ("commit", row.commit_sha or "-"),
        ("branch", row.branch or "-"),
        ("repository", mask_text(row.repo_url or "-")),
        ("owner", row.owner or "-"),
        ("declared in", row.source_file or "-"),
        ("paused", "yes" if row.paused else "no"),
        ("work queue", row.work_queue_name or "-"),
        ("updated at", row.updated_at or "-"),
    )
    record = masked(row.record)
    return DeploymentDetail(
        row.id,
        str(record.get("description") or ""),
        facts,
        _schedules(row.record),
        _json(record.get("parameters") or {}),
        _json(record),
        runs,
        runs_here,
        None,
        (),
    )


def _pass_line(record: PassRecord) -> PassLine:
    counts = record.counts
    changed = ", ".join(f"{counts[k]} {k}" for k in ("create", "update", "delete") if counts.get(k))
    source = " · ".join(x for x in (mask_text(record.repo_url), record.ref, record.path) if x)
    return PassLine(
        record.owner,
        record.trigger.value,
        record.outcome.value,
        record.revision,
        record.started_at,
        f"{record.duration:.2f} s",
        changed or "none",
        source,
        tuple(
            (c.deployment, c.action, c.version, mask_text(c.error) if c.error else None)
            for c in record.changes[:CHANGES_SHOWN]
        ),
        max(0, len(record.changes) - CHANGES_SHOWN),
        tuple(mask_text(r) for r in record.refusals),
        mask_text(record.error) if record.error else None,
    )


def _revision_lines(identity: str, passes: list[PassRecord]) -> tuple[RevisionLine, ...]:
    return tuple(
        RevisionLine(
            p.started_at,
            c.action,
            c.version,
            p.revision,
            p.owner,
            p.trigger.value,
            "failed" if c.error else p.outcome.value,
            mask_text(c.error) if c.error else None,
        )
        for p in passes
        for c in p.changes
        if c.deployment == identity
    )


def _schedules(record: dict[str, Any]) -> tuple[str, ...]:
    shown = []
    for schedule in record.get("schedules") or []:
        what = (
            schedule.get("cron") or schedule.get("rrule") or f"every {schedule.get('interval_seconds', 0):g}s"
        )
        zone = schedule.get("timezone") or "UTC"
        shown.append(f"{what} ({zone})" + ("" if schedule.get("active", True) else ", inactive"))
    return tuple(shown)


def _run_line(run: FlowRun) -> RunLine:
    return RunLine(
        run.id,
        run.name,
        run.state_name,
        run.state_type.value,
        run.expected_start_time,
        run.start_time,
        run.end_time,
    )


def masked(value: Any, key: str = "") -> Any:
    """``value`` with the value of every secret-looking key as ``***`` and URL credentials cut."""
    if key and looks_secret(key) and value not in (None, "", {}, []):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def looks_secret(name: str) -> bool:
    return is_secret_variable(name) or SECRET_KEY.search(name) is not None


mask_text: Callable[[str], str] = redact


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
