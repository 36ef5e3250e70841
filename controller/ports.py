"""Ports: the interfaces the engine, the runtime and the services need from the outside world.

Adapters implement them (git source, registries, run store, artifact store); ``app.py`` alone
picks the concrete classes. Everything that crosses a port is a plain value defined here or in
``controller.core``, so neither side imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from controller.core.events import Event, StateChange
from controller.core.history import Hold, PassRecord
from controller.core.notices import Notice, NoticeKey
from controller.core.plan import Plan
from controller.core.records import entry_leaves_folder
from controller.core.runs import FlowRun, StateType
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import ActualDeployment, Condition, SourceStatus
from controller.core.triggers import Bucket, DeclaredTriggers, FiringRecord
from controller.loading.tree import SourceTree

# -- the git source --------------------------------------------------------------------------

InputFilter = Callable[[str], bool]
"""Given a path relative to a code folder, whether it is an input (not .prefectignored)."""


class CommitTree(SourceTree, Protocol):
    """The files of one commit below the source's path."""

    def read_blob(self, sha: str, path: str = "") -> bytes: ...

    def lfs_pointers(self) -> list[str]: ...

    def mode(self, path: str) -> str: ...

    def links(self) -> Collection[str]:
        """Every symlink's path, whether it resolves inside the tree (its path then reads as
        what it points to) or not (``symlinks``)."""
        ...


class Snapshot(Protocol):
    """One commit of a source; its tree is read on first use."""

    @property
    def commit(self) -> str: ...

    @property
    def ref(self) -> str: ...

    @property
    def repo_url(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def identity(self) -> str:
        """The repository's canonical identity (normalised URL or resolved top level)."""
        ...

    @property
    def tree(self) -> CommitTree: ...

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a user should hear about the source itself: ``notes``, uncommitted changes."""
        ...

    def lfs_warnings(self, tree: CommitTree) -> tuple[str, ...]:
        """Files of ``tree`` that are Git LFS pointers rather than content."""
        ...

    @property
    def notes(self) -> tuple[str, ...]:
        """What fetching this commit had to repair (a re-cloned cache), said even when up to date."""
        ...

    def read_file(self, relative: str) -> bytes | None: ...

    def uncommitted(self, files: Collection[str]) -> tuple[str, ...]:
        """For each of ``files`` not in this commit as it is on disk: what is wrong and what to do."""
        ...

    def descends_from(self, ancestor: str) -> bool: ...

    def last_changing_commits(self, targets: Mapping[str, tuple[str, str, InputFilter]]) -> dict[str, str]:
        """key -> the newest commit that changed (manifest, code folder less filter)."""
        ...

    def changed_paths(self, since: str) -> dict[str, tuple[str, str]]:
        """Path -> (old mode, new mode) of each file changed since ``since`` ("000000": absent)."""
        ...

    def files_in(self, folders: Collection[str]) -> list[str]:
        """The files directly in each of ``folders`` ("" is the root), sorted, without listing
        the rest of the tree."""
        ...

    def part_tree(self, direct: Collection[str], under: Collection[str]) -> CommitTree | None:
        """The tree less every file but those directly in ``direct`` and at any depth below
        ``under``; None when those hold a symlink, whose target may lie anywhere."""
        ...


@dataclass(frozen=True)
class SourceSpec:
    """What the user named: a local path or a URL, a ref, a sub-folder."""

    location: str
    ref: str | None = None
    path: str = ""


class Source(Protocol):
    display_url: str
    requested_ref: str | None

    def snapshot(self) -> Snapshot: ...

    def snapshot_at(self, commit: str) -> Snapshot:
        """``commit`` from what the source already holds, without a network call (a drift
        pass); TransientError when it is not there."""
        ...


# -- artifacts -------------------------------------------------------------------------------


class ArtifactStore(Protocol):
    def has(self, digest: str) -> bool: ...

    def put(self, digest: str, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes: ...

    def uri(self, digest: str) -> str: ...


ArtifactReader = Callable[[str], bytes]
"""Reads an artifact by the URI the store gave it."""

# -- the deployment registry -----------------------------------------------------------------


class KnownVersion(NamedTuple):
    """What the registry recorded at the last apply of a deployment: one row, read back as it
    was written (``AppliedDeployment`` is what an apply gives it), as cheap as a tuple."""

    input_digest: str
    version: str
    commit: str


@dataclass(frozen=True)
class RegistryState:
    actual: dict[DeploymentId, ActualDeployment]
    inventory: frozenset[DeploymentId]
    status: SourceStatus | None
    generation: int
    known: dict[DeploymentId, KnownVersion]

    def owned(self, owner: str) -> dict[DeploymentId, ActualDeployment]:
        """Listed in the owner's inventory and carrying its marker: what its pass may change."""
        return {i: a for i in self.inventory if (a := self.actual.get(i)) is not None and a.owner == owner}

    def part(self, owner: str, files: Collection[str], ids: Collection[DeploymentId]) -> RegistryState:
        """This state less every deployment but the owner's declared in ``files`` and ``ids``."""
        keep = {
            i: a for i, a in self.actual.items() if (a.owner == owner and a.source_file in files) or i in ids
        }
        known = {i: k for i, k in self.known.items() if i in keep}
        return RegistryState(keep, self.inventory & keep.keys(), self.status, self.generation, known)

    def summary(self, owner: str, names: Collection[str]) -> OwnedSummary:
        owned = self.owned(owner).values()
        return OwnedSummary(
            self.generation,
            len(owned),
            frozenset(a.source_file or "" for a in owned if entry_leaves_folder(a.record_json)),
            frozenset(f for a in owned if (f := a.source_file) and f.rsplit("/", 1)[-1] in names),
        )


@dataclass(frozen=True)
class OwnedSummary:
    """An owner's deployments summed up without reading them: what an incremental pass must
    know of the part of the registry it leaves alone."""

    generation: int  # the registry's, when this was read
    count: int
    outside: frozenset[str]
    """Manifests of owned deployments whose entrypoint may lie outside the manifest's folder."""
    named: frozenset[str]
    """Manifests of owned deployments whose file name is one of those asked for."""


@dataclass(frozen=True)
class AppliedDeployment:
    """What the registry keeps beside a deployment's record."""

    commit: str
    input_digest: str
    artifact_uri: str


@dataclass(frozen=True)
class Application:
    """Everything an apply or a status record needs beyond the plan."""

    owner: str
    revision: str | None
    repo_url: str
    ref: str
    path: str
    conditions: tuple[Condition, ...]
    deployments: Mapping[DeploymentId, AppliedDeployment] = field(default_factory=dict)
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    """The repository's settings for the backend (``.deployctl.yaml`` ``prefect:``), which win
    over the environment's."""
    identity: str = ""
    """The repository's canonical identity (``Snapshot.identity``), kept with what is applied."""


@dataclass(frozen=True)
class DeploymentRow:
    """One deployment as a registry lists it: its record plus where it came from."""

    id: str
    flow_name: str
    name: str
    version: str | None
    commit_sha: str | None
    branch: str | None
    repo_url: str | None
    owner: str | None
    paused: bool
    work_queue_name: str | None
    source_file: str | None
    artifact_uri: str | None
    updated_at: str | None
    record: dict[str, Any]


def page_of(
    rows: Sequence[DeploymentRow], text: str, offset: int, limit: int
) -> tuple[int, list[DeploymentRow]]:
    """``DeploymentStore.find_deployments`` over rows already read."""
    needle = text.casefold()
    found = sorted(
        (r for r in rows if any(needle in (v or "").casefold() for v in _searched(r))),
        key=lambda r: r.id,
    )
    return len(found), found[offset : offset + limit]


def _searched(row: DeploymentRow) -> tuple[str | None, ...]:
    return row.id, row.owner, row.version, row.commit_sha


Refusal = tuple[str, str, str]
"""Why a registry would refuse a declared deployment: (dotted field, message, code)."""


@dataclass(frozen=True)
class Admission:
    """What a registry makes of the declared deployments before anything is planned: the specs
    completed with its defaults (a Prefect server's default work pool), and the ones it would
    refuse, so that ``plan`` refuses wherever ``sync`` would, at the file and line."""

    specs: Mapping[DeploymentId, DeploymentSpec]
    refusals: Mapping[DeploymentId, Refusal] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncOutcome:
    deployment_id: str
    action: str
    outcome: str
    message: str


class DeploymentStore(Protocol):
    """The registry's deployments one at a time: what ``deployctl deployment`` reads and edits."""

    location: str
    """Where it is, for messages (a file path or a server URL, never a credential)."""

    def list_deployments(self) -> list[DeploymentRow]: ...

    def find_deployments(self, text: str, offset: int, limit: int) -> tuple[int, list[DeploymentRow]]:
        """How many deployments hold ``text`` (any case) in their id, owner, version or commit,
        and ``limit`` of them from ``offset``, by id (``page_of``): what the status pages list,
        without reading every record where the registry can avoid it."""
        ...

    def get_deployment(self, identity: str) -> DeploymentRow | None: ...

    def delete_deployment(self, identity: str) -> bool: ...

    def edit_record(self, identity: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Change one deployment's record in place; KeyError when there is none."""
        ...


class StatusStore(Protocol):
    """Each owner's status document: what ``deployctl status`` and the status pages read."""

    def read_status(self, owner: str) -> SourceStatus | None: ...

    def list_statuses(self) -> list[SourceStatus]: ...

    def last_outcomes(self, owner: str, failed_only: bool = False) -> list[SyncOutcome]: ...


class VariableStore(Protocol):
    """Variables, read by ``{{ prefect.variables.NAME }}`` placeholders."""

    def read_variables(self) -> dict[str, str]: ...

    def set_variable(self, name: str, value: str) -> None:
        """Where ``Capabilities.variables_writable`` is False: ``Unsupported``."""
        ...

    def delete_variable(self, name: str) -> bool: ...


class Registry(DeploymentStore, StatusStore, VariableStore, Protocol):
    """What the reconciler needs from a deployment registry: all of the above, and the pass's
    reads and writes of an owner's deployments."""

    def generation(self) -> int: ...

    def admit(self, specs: Mapping[DeploymentId, DeploymentSpec], options: Mapping[str, Any]) -> Admission:
        """Complete ``specs`` with this registry's defaults and name those it would refuse.
        ``options``: the repository's settings for the backend (``Application.backend_options``)."""
        ...

    def read_state(self, owner: str) -> RegistryState: ...

    def owned_summary(self, owner: str, names: Collection[str]) -> OwnedSummary:
        """``read_state(owner).summary(owner, names)``, without reading every record."""
        ...

    def read_declared(self, owner: str, state: RegistryState, ids: Collection[DeploymentId]) -> RegistryState:
        """``state`` (this pass's ``read_state``) with each of ``ids`` that the registry holds
        and ``state`` lacks, whoever owns it: ``read_state`` may read only the owner's
        deployments, and a plan must also see the declared ones it does not own."""
        ...

    def read_part(self, owner: str, files: Collection[str], ids: Collection[DeploymentId]) -> RegistryState:
        """``read_state(owner).part(owner, files, ids)``, reading only those deployments; the
        apply that follows checks the registry against this read as it would a whole one."""
        ...

    def apply(self, plan: Plan, app: Application) -> dict[DeploymentId, str]: ...

    def record_status(self, app: Application, plan: Plan | None, applied: bool) -> bool:
        """Record a pass that wrote no deployment; True if the status changed. ``applied``
        (a plan with no changes): only if the registry and the owner's status are still what
        the pass read, as ``apply`` checks, else ``RegistryMoved`` and nothing is recorded.
        ``app.revision`` None (the source could not be read): only the conditions change; the
        last attempted and applied revisions and the last outcomes stay."""
        ...

    def close(self) -> None: ...


class HistoryStore(Protocol):
    """The passes of each owner, newest first, kept beside its status: ``deployctl history``."""

    def record_pass(self, record: PassRecord, keep: int) -> None:
        """Add ``record``, keeping the owner's newest ``keep`` passes only."""
        ...

    def list_passes(
        self, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PassRecord]:
        """Newest first, past the newest ``offset`` (a page); every owner's when ``owner`` is None."""
        ...

    def passes_of(self, deployment: str, limit: int | None = None) -> list[PassRecord]:
        """The passes that wrote ``deployment`` (``FLOW/NAME``), newest first."""
        ...

    def close(self) -> None: ...


class HoldStore(Protocol):
    """Owners held at a rolled-back revision (``deployctl rollback``) until ``release``."""

    def read_hold(self, owner: str) -> Hold | None: ...

    def set_hold(self, owner: str, hold: Hold | None) -> None:
        """Hold the owner (``hold``) or release it (None)."""
        ...

    def close(self) -> None: ...


# -- a backend: one registry and what comes with it --------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, stated as data and known before anything is opened (``validate``
    works offline): callers ask here instead of catching ``Unsupported`` mid-way."""

    supported_infrastructure: frozenset[str] | None
    """Infrastructure types whose runs it can execute; None: any (its workers decide)."""
    runs_triggers: bool
    """Whether a deployment's ``triggers:`` fire there; where not, plan and validate warn."""
    variables_writable: bool
    """Whether ``deployctl variable set`` writes its variables (else they are managed elsewhere)."""
    runs_flows_here: bool
    """Whether deployctl itself schedules and runs its flows (``up``, ``runner``, work queues)."""
    trigger_kinds: frozenset[str] | None = None
    """The kinds of trigger it runs (``core.triggers.TRIGGER_KINDS``); None: all. Plan refuses
    the others at their file and line."""


class OwnerControl(Protocol):
    """The per-owner rows of the registry: writer lease, suspend flag, relayed refreshes."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def suspended(self) -> bool: ...

    def set_suspended(self, suspended: bool) -> None: ...

    def refresh_requests(self) -> int: ...

    def request_refresh(self) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """Everything one registry URL is: its registry, its owners' controls, where its flow runs
    live, and what it can do. Opening one connects to nothing; each part is opened on demand.
    One implementation per folder of ``controller.adapters``; ``app.BACKENDS`` picks it."""

    url: str
    capabilities: Capabilities

    def registry(self, create: bool = True) -> Registry:
        """``create`` False (read-only commands): a registry that does not exist is ``NotFound``."""
        ...

    def owner_control(self, owner: str, holder: str, lease_seconds: float) -> OwnerControl: ...

    def run_store(self) -> RunStore | None:
        """Where deployctl's own engine keeps runs (``capabilities.runs_flows_here``), else None."""
        ...

    def engine_runs(self) -> EngineRuns | None:
        """Runs that the backend's own engine executes elsewhere (Prefect's workers), else None."""
        ...

    def history(self, create: bool = True) -> HistoryStore:
        """Each owner's passes, kept where its status is (``create`` as for ``registry``)."""
        ...

    def holds(self, create: bool = True) -> HoldStore:
        """Each owner's hold, kept beside its suspend flag."""
        ...


# -- notifications ---------------------------------------------------------------------------


class Notifier(Protocol):
    """Where notices go: each receiver's bounded queue, sent from a thread of its own, so that
    sending never slows or blocks a pass. Remembers the last notice of each owner, so that one
    (owner, revision, event) is one message however often a pass repeats it."""

    def last_sent(self, owner: str) -> NoticeKey | None: ...

    def send(self, notice: Notice) -> None:
        """Queue ``notice`` for every receiver that wants its event and remember it; returns at once."""
        ...

    def applying(self, notice: Notice) -> None:
        """A pass begins to build and write ``notice.revision``: queue its pending commit status
        for the forge receivers (``Event.APPLYING``), not remembered. The notice that ends the
        pass then reaches every receiver that was told it is pending."""
        ...

    def settle(self, notice: Notice) -> None:
        """The end of a pass whose notice is not sent (said before for this revision): queue it
        for the receivers that were told this revision is pending, and no other."""
        ...

    def close(self, timeout: float | None = None) -> None:
        """Stop taking notices and wait up to ``timeout`` seconds (the settings' ``drain_seconds``
        when None) for the queued ones; what is still undelivered then is given up, and logged."""
        ...


class CommentThread(Protocol):
    """The comments of one pull request (GitHub) or merge request (GitLab)."""

    def upsert(self, marker: str, body: str) -> str:
        """Create, or update in place, the one comment holding ``marker``: "created" or "updated"."""
        ...


# -- flow runs on a registry whose own engine runs them (Prefect) ---------------------------


class RunView(Protocol):
    """A flow run as every backend shows it: deployctl's own runner's (``core.runs.FlowRun``)
    or one that a Prefect worker runs."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def state_name(self) -> str: ...

    @property
    def state_message(self) -> str: ...

    @property
    def expected_start_time(self) -> str | None: ...

    @property
    def finished(self) -> bool: ...

    @property
    def waiting(self) -> bool:
        """Not yet taken by a runner or worker (scheduled)."""
        ...


class EngineRuns(Protocol):
    """Create and follow flow runs that another engine (Prefect's workers) executes."""

    def create(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> RunView: ...

    def get(self, run_id: str) -> RunView: ...

    def logs(self, run_id: str, after: int = 0) -> list[tuple[str, str, str]]: ...

    def unserved(self, run_id: str) -> str | None:
        """Why no worker will take the run (no worker polls its pool and queue, or one of them
        is paused or missing), or None when one serves it."""
        ...


# -- the run store (embedded engine only) ----------------------------------------------------


@dataclass(frozen=True)
class ActiveSchedule:
    deployment_id: str
    flow_name: str
    position: int
    slug: str | None
    definition: str
    snapshot: str
    work_queue_name: str
    catchup: bool
    created_at: str


@dataclass(frozen=True)
class NewRun:
    deployment_id: str
    flow_name: str
    snapshot: str
    parameters: dict[str, Any]
    work_queue_name: str
    expected_start_time: str
    idempotency_key: str | None = None
    schedule_slug: str | None = None
    auto_scheduled: bool = False
    name: str | None = None  # default: the deployment's name and the run id's first 8 digits
    tags: tuple[str, ...] = ()


class ScheduleStore(Protocol):
    """What the scheduler reads and writes: active schedules, the runs already planned, new runs."""

    def active_schedules(self) -> list[ActiveSchedule]: ...

    def horizon(self, now: str) -> dict[tuple[str, str], tuple[int, str]]: ...

    def latest_scheduled(self, deployment_id: str, slug: str) -> str | None: ...

    def deployment_parameters(self, snapshots: set[str]) -> dict[str, dict[str, Any]]: ...

    def insert_runs(self, runs: Sequence[NewRun], now: str) -> int: ...

    def mark_late(self, due_before: str, now: str) -> int: ...


class RunnerStore(Protocol):
    """What a runner needs: claim runs, move their states, keep their logs and its heartbeat."""

    def claim(
        self, runner_id: str, queues: Sequence[str] | None, now: str, capacity: int
    ) -> list[FlowRun]: ...

    def get(self, run_id: str) -> FlowRun | None: ...

    def snapshot(self, digest: str) -> tuple[dict[str, Any], str | None]: ...

    def set_state(
        self,
        run_id: str,
        state: StateType,
        name: str,
        now: str,
        message: str = "",
        **columns: Any,
    ) -> None: ...

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
        """``set_state`` only if the run is still in one of ``allowed_from``."""
        ...

    def prune_logs(self, finished_before: str) -> int: ...

    def process_of(self, run_id: str) -> tuple[int | None, str | None]: ...

    def append_logs(self, run_id: str, lines: Sequence[tuple[str, str, str]]) -> None: ...

    def heartbeat(self, runner_id: str, pid: int, queues: Sequence[str] | None, now: str) -> None: ...

    def remove_runner(self, runner_id: str) -> None: ...

    def orphaned_runs(self, stale_before: str) -> list[FlowRun]: ...


class QueueStore(Protocol):
    """Work queues: list, create, pause and resume, delete."""

    def list_queues(self) -> list[dict[str, Any]]: ...

    def create_queue(self, name: str, now: str) -> bool: ...

    def delete_queue(self, name: str) -> int | None: ...

    def update_queue(self, name: str, now: str, **settings: Any) -> None: ...


class RunBook(QueueStore, Protocol):
    """Runs as a person asks for them: create, find, read, cancel; and who serves which queue."""

    location: str

    def close(self) -> None: ...

    def get(self, run_id: str) -> FlowRun | None: ...

    def create_run(self, run: NewRun, now: str) -> FlowRun: ...

    def deployment_snapshot(self, deployment_id: str) -> tuple[str, str, str, dict[str, Any]] | None: ...

    def derive_snapshot(self, digest: str, record: dict[str, Any], now: str) -> str: ...

    def find(self, prefix: str) -> list[FlowRun]:
        """Runs whose id starts with ``prefix`` (taken literally)."""
        ...

    def list_runs(
        self, deployment_id: str | None = None, state: str | None = None, limit: int = 50
    ) -> list[FlowRun]: ...

    def states(self, run_id: str) -> list[dict[str, str]]: ...

    def logs(self, run_id: str, after: int = 0, limit: int = 100_000) -> list[tuple[int, str, str, str]]: ...

    def request_cancel(self, run_id: str, now: str) -> FlowRun | None:
        """Scheduled -> Cancelled, Pending/Running -> Cancelling, finished: unchanged; atomically."""
        ...

    def runner_queues(self, fresh_after: str) -> list[tuple[str, ...]]: ...


class RunStore(ScheduleStore, RunnerStore, RunBook, Protocol):
    """Scheduled and ad-hoc flow runs, their states and logs, work queues and runners: the
    embedded engine's store, each part handed to the caller that uses it."""

    def count_by_state(self) -> dict[str, int]: ...


# -- events and triggers (the embedded engine) ---------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """What ``deployctl event ls`` asks for: event names (``*`` suffix allowed), the resource's
    ``prefect.resource.id`` (``*`` suffix allowed), a time range, newest first."""

    names: tuple[str, ...] = ()
    resource: str | None = None
    since: str | None = None
    until: str | None = None
    limit: int = 50


class TriggerBook(Protocol):
    """The event store inside one write transaction: the evaluator's cursor, its buckets and
    its firings change together with what it read, or not at all."""

    def cursor(self, name: str) -> int | None:
        """Where the reader ``name`` stopped; None before its first batch."""
        ...

    def set_cursor(self, name: str, position: int) -> None: ...

    def events_after(self, seq: int, limit: int) -> list[tuple[int, Event]]: ...

    def add(self, events: Sequence[Event], received: str) -> int: ...

    def bucket(self, trigger: str, key: str) -> Bucket | None: ...

    def put_bucket(self, trigger: str, key: str, bucket: Bucket | None) -> None: ...

    def buckets(self, trigger: str) -> list[tuple[str, Bucket]]: ...

    def firings_since(self, trigger: str, since: str) -> int: ...

    def record_firing(self, firing: FiringRecord) -> None: ...


class EventStore(Protocol):
    """Events in their own SQLite file beside the registry; ``add`` stores all or none."""

    location: str

    def add(self, events: Sequence[Event], received: str) -> int:
        """Store ``events`` in one transaction; one whose id is stored already is skipped. New count."""
        ...

    def query(self, selection: EventFilter) -> list[Event]: ...

    def get(self, event_id: str) -> Event | None: ...

    def prune(self, before: str, keep: int) -> int:
        """Delete events that occurred before ``before`` and all but the newest ``keep``."""
        ...

    def book(self) -> AbstractContextManager[TriggerBook]: ...

    def last_seq(self) -> int:
        """The newest stored event's number (0: none), read without a transaction."""
        ...

    def cursor(self, name: str) -> int | None: ...

    def firings(self, trigger_prefix: str = "", limit: int = 50) -> list[FiringRecord]: ...

    def close(self) -> None: ...


class StateFeed(Protocol):
    """The embedded registry read for events and triggers: its flow runs' state history in
    order, and the deployments' declared triggers."""

    location: str

    def changes_after(self, seq: int, limit: int) -> list[StateChange]: ...

    def last_change(self) -> int:
        """The newest change's number (0: none)."""
        ...

    def changes_before(self, since: str) -> int:
        """The number of the last change before ``since``: where publishing starts, the first time."""
        ...

    def declared_triggers(self) -> list[DeclaredTriggers]: ...

    def close(self) -> None: ...
