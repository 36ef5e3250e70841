"""The Prefect backend: a Prefect 3 server (or Prefect Cloud) as deployctl's registry.

Implements the ``Registry`` port over the REST API. Writes only what changed: a create is one
POST with the full state, an update one PATCH of the changed fields (schedules patched in
place by slug, so their ids and future runs survive), a no-op nothing, a delete one DELETE.
Ownership, inventory, applied records and status live on the server (``prefect_state``), so
two stateless CI runs agree. Built by ``open_prefect_registry``, called from ``app.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from controller.adapters.prefect.admission import admit
from controller.adapters.prefect.apply import Applier
from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.adapters.prefect.listing import Listing, actual_of, read_listing
from controller.adapters.prefect.lock import SyncLease
from controller.adapters.prefect.settings import resolve_server
from controller.adapters.prefect.state import OwnerState, StateStore
from controller.adapters.prefect.translate import (
    CodeSource,
    credential_reference,
    owner_of,
    view_digest,
)
from controller.core.plan import Action, Plan
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import Condition, SourceStatus
from controller.core.status import after_apply
from controller.errors import ConfigError, RegistryMoved, Unsupported
from controller.ports import (
    Admission,
    Application,
    DeploymentRow,
    KnownVersion,
    OwnedSummary,
    RegistryState,
    SyncOutcome,
    page_of,
)

MINIMUM_MAJOR = 3
REFRESH_ONE_BY_ONE = 50  # plans this small re-read their deployments one by one before applying


def open_prefect_registry(url: str, env: Mapping[str, str]) -> PrefectRegistry:
    """``url``: ``prefect``, ``prefect+http://HOST:PORT/api`` or ``prefect+https://…``.

    ``DEPLOYCTL_PREFECT_CODE`` (``git`` or ``storage``), ``DEPLOYCTL_PREFECT_GIT_CREDENTIALS``
    (``block:NAME`` or ``env:VAR``), ``DEPLOYCTL_CREATE_WORK_POOLS=1``,
    ``DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL`` and ``DEPLOYCTL_PREFECT_CONCURRENCY`` (writes at
    once, default 1) tune the writes.
    """
    server = resolve_server(url, env)
    client = PrefectClient(server.api_url, server.api_key, server.auth_string)
    mode = env.get("DEPLOYCTL_PREFECT_CODE", "git")
    if mode not in ("git", "storage"):
        raise ConfigError(f"DEPLOYCTL_PREFECT_CODE={mode!r}: use git or storage")
    concurrency = env.get("DEPLOYCTL_PREFECT_CONCURRENCY", "1")
    if not concurrency.isdigit() or not 1 <= int(concurrency) <= 32:
        raise ConfigError(f"DEPLOYCTL_PREFECT_CONCURRENCY={concurrency!r}: use a whole number from 1 to 32")
    credentials = env.get("DEPLOYCTL_PREFECT_GIT_CREDENTIALS") or None
    _check_credentials(credentials, "DEPLOYCTL_PREFECT_GIT_CREDENTIALS")
    return PrefectRegistry(
        client,
        code_mode=mode,
        credentials=credentials,
        create_work_pools=env.get("DEPLOYCTL_CREATE_WORK_POOLS", "") in ("1", "true", "yes"),
        concurrency=int(concurrency),
        default_work_pool=env.get("DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL") or None,
    )


RECORDS = 2
"""The shape of the applied records in an owner's state: 2 says whether a code folder holds a
symlink (``code_links``), which an incremental pass relies on."""


class PrefectRegistry:
    def __init__(
        self,
        client: PrefectClient,
        code_mode: str = "git",
        credentials: str | None = None,
        create_work_pools: bool = False,
        concurrency: int = 1,
        default_work_pool: str | None = None,
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.location = client.api_url
        self.code_mode = code_mode
        self.credentials = credentials
        self.create_work_pools = create_work_pools
        self.default_work_pool = default_work_pool
        self.states = StateStore(client)
        self._seen: dict[str, _Seen] = {}  # owner -> what its last read_state found
        self._listings: dict[str, Listing] = {}  # owner -> what its last read_state listed
        self._whole: dict[str, RegistryState] = {}  # owner -> its pass's read, until the pass reads again
        self._states: dict[str, OwnerState] = {}  # owner -> the document its pass's read_status read
        self._owner: str | None = None
        self.server_version = self._check_version()

    def close(self) -> None:
        self.client.close()

    def _check_version(self) -> str:
        try:
            version = str(self.client.get("/admin/version"))
        except PrefectApiError as exc:
            raise ConfigError(
                f"{self.client.api_url} does not answer like a Prefect server ({exc.status}): "
                "check the URL ends in /api"
            ) from exc
        major = version.split(".", 1)[0]
        if not major.isdigit() or int(major) < MINIMUM_MAJOR:
            raise ConfigError(
                f"the Prefect server at {self.client.api_url} runs {version}, too old: deployctl "
                f"needs Prefect {MINIMUM_MAJOR}.x; upgrade the server"
            )
        return version

    def admit(self, specs: Mapping[DeploymentId, DeploymentSpec], options: Mapping[str, Any]) -> Admission:
        """Every deployment gets a pool git or the settings chose, never one the server picks, and
        a pool the server lacks is refused now rather than in the middle of an apply."""
        return admit(
            self.client,
            specs,
            options.get("default_work_pool", self.default_work_pool),
            bool(options.get("create_work_pools", self.create_work_pools)),
        )

    # -- reading ---------------------------------------------------------------------------

    def generation(self) -> int:
        """Of the owner whose status was read last (the reconciler asks right after): changes
        elsewhere on a shared server must not make this owner's passes re-plan and re-record."""
        owner = self._owner
        return read_listing(self.client, owner).generation(owner)

    def read_status(self, owner: str) -> SourceStatus | None:
        """Reads the owner's state document, which the rest of the pass (``last_outcomes``,
        ``read_state``) then uses rather than reading it again; every write checks it anew
        under the owner's lease."""
        self._owner = owner
        self._states[owner] = state = self.states.read(owner)
        return _status(state)

    def _state(self, owner: str) -> OwnerState:
        """The document ``read_status`` read in this pass, or a fresh read."""
        return self._states.get(owner) or self.states.read(owner)

    def read_state(self, owner: str) -> RegistryState:
        """The owner's deployments (by its tag) and automations: the ones it declares but does not
        own come from ``read_declared``."""
        self._whole.pop(owner, None)
        state = self._states.pop(owner, None) or self.states.read(owner)
        listing = read_listing(self.client, owner)
        views = {i: view_digest(d) for i, d in listing.deployments.items()}
        self._seen[owner] = _Seen(state.serial, views, _applied_from(state), listing.generation(owner))
        self._listings[owner] = listing
        self._owner = owner
        return self._state_of(owner, state, listing)

    def read_declared(self, owner: str, state: RegistryState, ids: Collection[DeploymentId]) -> RegistryState:
        """``state`` (from ``read_state`` in this pass) with those of ``ids`` the server holds
        under another owner or none: by name, never by listing the whole server."""
        listing = self._listings.get(owner)
        seen = self._seen.get(owner)
        wanted = [i for i in ids if i not in state.actual]
        if listing is None or seen is None or not wanted:
            return state
        found = self._read_named(owner, wanted)
        for identity, server in found.deployments.items():
            listing.deployments.setdefault(identity, server)
            seen.views.setdefault(identity, view_digest(server))
        listing.flows.update(found.flows)
        added = {
            i: actual_of(i, server, None)
            for i, server in found.deployments.items()
            if i not in state.actual and i in wanted
        }
        return replace(state, actual={**state.actual, **added})

    def _read_named(self, owner: str, ids: Collection[DeploymentId]) -> Listing:
        """The deployments ``ids``: one request each when few, else a filter by their names."""
        if len(ids) > REFRESH_ONE_BY_ONE:
            return read_listing(self.client, owner, ids)
        found = {i: d for i in ids if (d := self._read_one(i)) is not None}
        return Listing(found, {})

    def _state_of(self, owner: str, state: OwnerState, listing: Listing) -> RegistryState:
        actual = {}
        for identity, server in listing.deployments.items():
            mine = owner_of(server.get("tags", [])) == owner
            actual[identity] = actual_of(
                identity, server, state.deployments.get(identity) if mine else None, listing.automations
            )
        known = {
            DeploymentId(i): KnownVersion(d["input_digest"], d["version"], d["commit"])
            for i, d in state.deployments.items()
            if i in actual and actual[DeploymentId(i)].owner == owner and d.get("input_digest")
        }
        inventory = frozenset(DeploymentId(i) for i in state.deployments)
        return RegistryState(actual, inventory, _status(state), listing.generation(owner), known)

    def owned_summary(self, owner: str, names: Collection[str]) -> OwnedSummary:
        """The server lists every deployment in one read anyway: the part that follows in the
        same pass is cut from this read, not listed again."""
        self._whole[owner] = whole = self.read_state(owner)
        return whole.summary(owner, names)

    def read_part(self, owner: str, files: Collection[str], ids: Collection[DeploymentId]) -> RegistryState:
        whole = self._whole.get(owner) or self.read_state(owner)
        whole = self._whole[owner] = self.read_declared(owner, whole, ids)
        return whole.part(owner, files, ids)

    def list_statuses(self) -> list[SourceStatus]:
        states = self.states.read_all()
        self._states = {s.owner: s for s in states}  # for last_outcomes, read with them
        return sorted((s for s in map(_status, states) if s is not None), key=lambda s: s.owner)

    def list_deployments(self) -> list[DeploymentRow]:
        listing = read_listing(self.client)
        applied = self._applied_by_owner(listing.deployments.values())
        return [_row(i, d, applied) for i, d in sorted(listing.deployments.items())]

    def find_deployments(self, text: str, offset: int, limit: int) -> tuple[int, list[DeploymentRow]]:
        return page_of(self.list_deployments(), text, offset, limit)  # the server lists them all anyway

    def get_deployment(self, identity: str) -> DeploymentRow | None:
        server = self._read_one(identity)
        if server is None:
            return None
        return _row(DeploymentId(identity), server, self._applied_by_owner([server]))

    def delete_deployment(self, identity: str) -> bool:
        """Delete one deployment by hand (``deployment delete``), and forget it in its owner's state."""
        found = self.get_deployment(identity)
        if found is None:
            return False
        self.client.write("DELETE", f"/deployments/{found.record['prefect_id']}")
        if found.owner is not None:
            state = self.states.read(found.owner)
            if state.deployments.pop(identity, None) is not None:
                self.states.write(state)
        return True

    def edit_record(self, identity: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        raise Unsupported(
            f"schedules of a Prefect deployment are edited on the server: use Prefect's UI or "
            f"`prefect deployment schedule` for {identity}; the next sync reports the change as drift"
        )

    def last_outcomes(self, owner: str, failed_only: bool = False) -> list[SyncOutcome]:
        status = self._state(owner).status or {}
        outcomes = [SyncOutcome(**o) for o in status.get("outcomes", [])]
        return [o for o in outcomes if o.outcome == "failed"] if failed_only else outcomes

    def read_variables(self) -> dict[str, str]:
        """The server's variables; a value that is not text (Prefect 3 allows JSON) as JSON text."""
        found = {}
        for item in self.client.paged("/variables/filter"):
            value = item.get("value")
            found[str(item["name"])] = value if isinstance(value, str) else json.dumps(value)
        return found

    def set_variable(self, name: str, value: str) -> None:
        raise Unsupported(
            f"variables of {self.client.api_url} are managed by Prefect: `prefect variable set {name} ...`"
        )

    def delete_variable(self, name: str) -> bool:
        raise Unsupported(
            f"variables of {self.client.api_url} are managed by Prefect: `prefect variable unset {name}`"
        )

    def _applied_by_owner(self, deployments: Iterable[dict[str, Any]]) -> dict[str, OwnerState]:
        owners = {o for o in (owner_of(d.get("tags", [])) for d in deployments) if o}
        return {o: self.states.read(o) for o in owners}

    # -- writing ---------------------------------------------------------------------------

    def apply(self, plan: Plan, app: Application) -> dict[DeploymentId, str]:
        """Under the owner's lease, and only if nothing changed since ``read_state``."""
        with SyncLease(self.client, app.owner) as lease:
            state = self.states.read(app.owner)
            listing = self._refreshed(app.owner, plan)
            self._refuse_if_changed(app.owner, plan, state, listing)
            options = app.backend_options  # .deployctl.yaml's prefect: wins over the environment
            code = CodeSource(
                options.get("code", self.code_mode),
                clone_url(app.repo_url),
                app.path,
                app.ref,
                options.get("git_credentials", self.credentials),
            )
            _check_credentials(code.credentials, "git_credentials")
            create_pools = bool(options.get("create_work_pools", self.create_work_pools))
            applier = Applier(self.client, state, code, create_pools, lease.renew, self.concurrency)
            state.serial += 1
            try:
                failures = applier.apply(plan, app, listing)
            except BaseException:
                # Whatever was written is recorded, even when the server went away mid-way.
                if applier.touched:
                    self.states.write(state)
                raise
            for identity, written in applier.written.items():
                if written is None:
                    listing.deployments.pop(identity, None)
                else:
                    listing.deployments[identity] = written
            done = replace(app, conditions=after_apply(app.conditions, plan.writes, failures))
            self._update_status(state, done, plan, True, failures, listing.generation(app.owner))
            self.states.write(state)
        return failures

    def _refreshed(self, owner: str, plan: Plan) -> Listing:
        """The listing of ``read_state`` with the plan's deployments read again; a full listing
        when there was none or the plan is large (a few pages beat many single reads)."""
        listing = self._listings.pop(owner, None)
        ids = [c.id for c in plan.changes if c.action is not Action.NOOP] + list(plan.conflicts)
        if listing is None or len(ids) > REFRESH_ONE_BY_ONE:
            return read_listing(self.client, owner, ids)
        for identity in ids:
            found = self._read_one(identity)
            if found is None:
                listing.deployments.pop(identity, None)
            else:
                listing.deployments[identity] = found
        return listing

    def _read_one(self, identity: str) -> dict[str, Any] | None:
        flow_name, _, name = identity.partition("/")
        try:
            found: dict[str, Any] = self.client.get(
                f"/deployments/name/{quote(flow_name, safe='')}/{quote(name, safe='')}"
            )
        except PrefectApiError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def _refuse_if_changed(
        self, owner: str, plan: Plan, state: OwnerState, listing: Listing, generation: int | None = None
    ) -> None:
        """Under the owner's lease: the owner's state (serial, applied revision, repository)
        and the plan's deployments are as ``read_state`` found them; ``generation``, the owner's
        listing now, is as it was then (a plan of no changes is recorded as applied)."""
        seen = self._seen.get(owner)
        if seen is None:
            return
        ids = [c.id for c in plan.changes] + list(plan.conflicts)
        moved: list[str] = [i for i in ids if seen.views.get(i) != _view(listing.deployments.get(i))]
        if generation is not None and generation != seen.generation:
            moved = moved or ["a deployment of this owner"]
        if state.serial != seen.serial or _applied_from(state) != seen.applied or moved:
            what = f"{moved[0]} changed" if moved else "another sync of this owner applied"
            raise RegistryMoved(
                f"the Prefect server changed since the plan was made ({what}); nothing was "
                "applied; the next sync plans again"
            )

    def record_status(self, app: Application, plan: Plan | None, applied: bool) -> bool:
        """Record a pass that wrote no deployment; write only when the status changed. True if
        written. A plan of no changes is recorded as applied as an apply is: under the owner's
        lease, and only if the owner's state and deployments are as the plan found them."""
        if not applied:
            state = self.states.read(app.owner)
            if not self._update_status(state, app, plan, False):
                return False
            self.states.write(state)
            return True
        seen = self._seen.get(app.owner)
        self._listings.pop(app.owner, None)
        state = self.states.read(app.owner)
        if seen is not None and not self._update_status(state, app, plan, True, None, seen.generation):
            return False  # already recorded, from what is still in force
        with SyncLease(self.client, app.owner):
            state = self.states.read(app.owner)
            now = read_listing(self.client, app.owner).generation(app.owner)
            # the owner's whole listing stands for each of the plan's (unchanged) deployments
            self._refuse_if_changed(app.owner, Plan(()), state, Listing({}, {}), now)
            if not self._update_status(state, app, plan, True, None, now):
                return False
            self.states.write(state)
        return True

    def _update_status(
        self,
        state: OwnerState,
        app: Application,
        plan: Plan | None,
        applied: bool,
        failures: Mapping[DeploymentId, str] | None = None,
        generation: int | None = None,
    ) -> bool:
        old = state.status or {}
        # the revision is applied only when every write of the pass succeeded
        applied_all = applied and not failures
        # Where the source is belongs with what was applied from it (as the embedded registry
        # keeps it): a refused attempt on another ref must not make the applied commit that ref's.
        where = app if applied_all or not old else None
        status = {
            "repo_url": where.repo_url if where else old.get("repo_url"),
            "ref": where.ref if where else old.get("ref"),
            "path": where.path if where else old.get("path"),
            "identity": app.identity if applied_all else old.get("identity"),
            # no revision: the source could not be read, and what was last attempted stays
            "last_attempted_revision": app.revision or old.get("last_attempted_revision"),
            "last_applied_revision": app.revision if applied_all else old.get("last_applied_revision"),
            "applied_generation": generation if applied_all else old.get("applied_generation"),
            "records": RECORDS if applied_all else old.get("records"),
            "conditions": [c.to_json() for c in app.conditions],
        }
        outcomes = _outcomes(plan, failures, applied)
        # A pass that changed nothing leaves the last pass's outcomes and writes nothing.
        if all(old.get(k) == v for k, v in status.items()) and not outcomes:
            return False
        if app.revision is None:  # not a pass over a commit: the last outcomes stay
            outcomes = old.get("outcomes", [])
        state.status = {
            **status,
            "outcomes": outcomes,
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        return True


def _check_credentials(credentials: str | None, where: str) -> None:
    if credentials:
        try:
            credential_reference(credentials)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from exc


def clone_url(repo_url: str) -> str:
    """What a worker on another machine can clone: a local repository by its absolute path."""
    if "://" in repo_url or (":" in repo_url and not repo_url.startswith((".", "/"))):
        return repo_url  # a URL, or scp-like user@host:path
    return os.path.abspath(repo_url)


def _view(server: dict[str, Any] | None) -> str | None:
    return None if server is None else view_digest(server)


def _outcomes(
    plan: Plan | None, failures: Mapping[DeploymentId, str] | None, applied: bool
) -> list[dict[str, str]]:
    failed = failures or {}
    return [
        {
            "deployment_id": c.id,
            "action": c.action.value,
            "outcome": "failed" if c.id in failed else ("applied" if applied else "not applied"),
            "message": failed.get(c.id, c.cause.value),
        }
        for c in (plan.changes if plan else ())
        if c.action is not Action.NOOP
    ]


def _status(state: OwnerState) -> SourceStatus | None:
    s = state.status
    if s is None:
        return None
    return SourceStatus(
        owner=state.owner,
        repo_url=s["repo_url"],
        ref=s["ref"],
        path=s["path"],
        last_attempted_revision=s["last_attempted_revision"],
        last_applied_revision=s["last_applied_revision"],
        # records of an older shape (no code_links): the next pass is a full one, which learns it
        applied_generation=s["applied_generation"] if s.get("records") == RECORDS else None,
        conditions=tuple(Condition.from_json(c) for c in s["conditions"]),
        updated_at=s.get("updated_at"),
        identity=s.get("identity"),
    )


@dataclass(frozen=True)
class _Seen:
    """What ``read_state`` found of an owner, which its plan's apply or record checks again."""

    serial: int
    views: dict[DeploymentId, str]
    applied: tuple[str | None, str | None]
    generation: int  # of the owner's deployments and automations


def _applied_from(state: OwnerState) -> tuple[str | None, str | None]:
    """The owner's applied revision and the repository it came from."""
    status = state.status or {}
    return status.get("last_applied_revision"), status.get("identity")


def _row(identity: DeploymentId, server: dict[str, Any], states: Mapping[str, OwnerState]) -> DeploymentRow:
    """A deployment as ``deployment ls|inspect`` show it: deployctl's record, plus the server's id."""
    owner = owner_of(server.get("tags", []))
    state = states.get(owner) if owner else None
    applied = state.deployments.get(identity) if state else None
    record = json.loads(actual_of(identity, server, applied).record_json)
    record["prefect_id"] = server["id"]
    commit = applied.get("commit") if applied else None
    status = state.status if state else None
    flow_name, _, name = identity.partition("/")
    return DeploymentRow(
        id=identity,
        flow_name=flow_name,
        name=name,
        version=server.get("version"),
        commit_sha=commit,
        branch=(status or {}).get("ref") if applied else None,
        repo_url=(status or {}).get("repo_url") if applied else None,
        owner=owner,
        paused=bool(server.get("paused")),
        work_queue_name=server.get("work_queue_name"),
        source_file=record.get("source", {}).get("file") if applied else None,
        artifact_uri=applied.get("artifact_uri") if applied else None,
        updated_at=server.get("updated"),
        record=record,
    )
