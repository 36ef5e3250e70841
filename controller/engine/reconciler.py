"""One reconcile pass: make the registry match one commit of the source. ``reconcile_once``.

The pipeline of DESIGN.md, as a list of calls: snapshot the source, skip if that commit is
already applied and nothing drifted, load the desired state, read the actual state, plan,
build and upload the changed code, apply (upserts first, prune last), record the status.
No loop, no sleep: the controller loop and the CLI decide when to call it again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from controller.core.diagnostics import Diagnostic, Severity, first_problem
from controller.core.history import PassRecord, Trigger, held_message
from controller.core.plan import Action, Plan, PlanPolicy, make_plan, restrict_plan
from controller.core.spec import DeploymentId
from controller.core.state import Condition, Reason, SourceStatus
from controller.core.status import after_apply, is_ready, ready, stalled
from controller.engine.building import upload_missing
from controller.engine.desired import DesiredState, DesiredStateBuilder
from controller.engine.history import pass_record, worth_recording
from controller.engine.incremental import SETTINGS_FILE, find_touched, plan_touched
from controller.errors import DeployctlError
from controller.ports import (
    Application,
    AppliedDeployment,
    ArtifactStore,
    HoldStore,
    Registry,
    RegistryState,
    Snapshot,
    Source,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SyncOptions:
    owner: str | None = None
    dry_run: bool = False
    partial: bool = False
    allow_empty: bool = False
    force_prune: bool = False
    allow_rewind: bool = False
    adopt_owner: bool = False
    full: bool = False
    revision: str | None = None
    """Re-apply this commit from what the source already holds, without fetching (a drift pass
    of the last applied revision); None: the ref's newest commit."""
    only_files: frozenset[str] = frozenset()
    """``deployment apply FILE…``: write only what these files (relative to the source's folder)
    declare, prune nothing, and leave the owner's applied revision where it was (the rest of
    the commit is not applied). Each file must be committed and clean."""
    trigger: Trigger = Trigger.CLI
    """What started the pass, for its history; a ``ROLLBACK`` pass may apply a commit other
    than the one its owner is held at."""


@dataclass(frozen=True)
class SyncResult:
    owner: str
    revision: str | None = None
    ref: str = ""
    repo_url: str = ""
    path: str = ""
    plan: Plan | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    conditions: tuple[Condition, ...] = ()
    applied: bool = False
    up_to_date: bool = False
    failures: Mapping[DeploymentId, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    error: str | None = None
    retryable: bool = False
    """Whether repeating the pass on the same commit may help (the ``retryable`` of the error
    that failed it: a network, a busy registry, failed writes); False for a refusal, which
    waits for a new commit."""
    in_force: int | None = None
    """How many of the owner's deployments the registry holds, when a pass that made no plan
    read them (a refused commit: the last applied revision's); None when it did not."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failures and is_ready(self.conditions)


def default_owner(repo_url: str, ref: str, path: str) -> str:
    """From the repository's canonical identity (``Snapshot.identity``), the ref as named ("": the
    default branch, whatever it is called) and the sub-path."""
    digest = hashlib.sha256(f"{repo_url}#{ref}:{path.strip('/')}".encode()).hexdigest()[:12]
    return f"deployctl-{digest}"


@dataclass
class Reconciler:
    source: Source
    registry: Registry
    store: ArtifactStore
    history: Callable[[PassRecord], None] | None = None
    """Told of every pass that may write (not a dry run) and was not idle, as it ended; must
    not raise."""
    holds: HoldStore | None = None
    """Where an owner's hold is read; None: no owner is ever held."""
    builder: DesiredStateBuilder = field(default_factory=DesiredStateBuilder)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    on_writing: Callable[[SyncResult], None] = field(default=lambda result: None)
    """Told, with the plan, when a pass with changes begins to build and write (commit status)."""

    def reconcile_once(self, options: SyncOptions, progress: Progress = lambda step: None) -> SyncResult:
        if self.history is None or options.dry_run:
            return self._reconcile_once(options, progress)
        started, clock = datetime.now(UTC), time.monotonic()
        result = self._reconcile_once(options, progress)
        if not worth_recording(result):
            return result
        record = pass_record(result, options.trigger, started.isoformat(timespec="milliseconds"), 0.0)
        self.history(replace(record, duration=time.monotonic() - clock))
        return result

    def _reconcile_once(self, options: SyncOptions, progress: Progress) -> SyncResult:
        progress("fetching source")
        try:
            if options.revision:
                snapshot = self.source.snapshot_at(options.revision)
            else:
                snapshot = self.source.snapshot()
        except DeployctlError as exc:
            return self._source_failed(options, exc)
        declared, problems = _declared_owner(snapshot)
        owner = (
            options.owner
            or declared
            or default_owner(snapshot.identity, self.source.requested_ref or "", snapshot.path)
        )
        base = SyncResult(owner, snapshot.commit, snapshot.ref, snapshot.repo_url, snapshot.path)
        unfit = snapshot.uncommitted(options.only_files) if options.only_files else ()
        if unfit:  # not this commit's to apply: nothing is recorded
            return _with(base, error=unfit[0], conditions=stalled(Reason.SOURCE_FAILED, unfit[0]))
        if problems and options.partial:
            return self._refuse_settings(base, options, problems)
        try:
            held = self._held(owner, snapshot.commit, options)
            if held:  # not recorded as the owner's status: what it holds is still in force
                return _with(base, error=held, conditions=stalled(Reason.SOURCE_FAILED, held))
            return self._reconcile_commit(base, snapshot, options, progress)
        except DeployctlError as exc:  # the registry failed mid-pass: unknown, never empty
            return self._stall(base, options, Reason.REGISTRY_FAILED, str(exc), base.plan, exc.retryable)

    def _held(self, owner: str, commit: str, options: SyncOptions) -> str | None:
        """Why a held owner may not take ``commit``: it is held at another one (a rollback
        pass takes any)."""
        if self.holds is None or options.trigger is Trigger.ROLLBACK:
            return None
        hold = self.holds.read_hold(owner)
        return held_message(hold, commit) if hold and hold.revision != commit else None

    def _reconcile_commit(
        self, base: SyncResult, snapshot: Snapshot, options: SyncOptions, progress: Progress
    ) -> SyncResult:
        # the warnings come from `git status`, which walks the working tree: overlap it with the
        # pass, and give them even when the commit is applied (the edits are still not in it)
        with ThreadPoolExecutor(1) as pool:
            warnings = pool.submit(lambda: snapshot.warnings)
            status = self.registry.read_status(base.owner)  # once a pass: a request on a server
            if not options.full and self._up_to_date(snapshot, status):
                result = _with(base, up_to_date=True, conditions=ready(), plan=Plan(()))
            else:
                result = self._reconcile_changes(base, snapshot, status, options, progress)
            return _with(result, warnings=(*warnings.result(), *result.warnings))

    def _reconcile_changes(
        self,
        base: SyncResult,
        snapshot: Snapshot,
        status: SourceStatus | None,
        options: SyncOptions,
        progress: Progress,
    ) -> SyncResult:
        owner = base.owner
        refusal = source_refusal(status, snapshot, options)
        if refusal:  # another repository's owner: its status is not this source's to write
            message, foreign = refusal
            return self._stall(base, options, Reason.SOURCE_FAILED, message, None, record=not foreign)
        progress("loading manifests")
        desired, state, owned = self._desired(snapshot, owner, status, options)
        diagnostics = desired.load.diagnostics
        if not desired.load.ok and not options.partial:
            errors = sum(1 for d in diagnostics if d.severity is Severity.ERROR)  # warnings are not refusals
            first = first_problem(diagnostics)
            message = f"{errors} problem(s) in the manifests; nothing was applied: {first}"
            refused = _with(base, diagnostics=diagnostics, in_force=len(state.owned(owner)))
            return self._stall(refused, options, Reason.VALIDATION_FAILED, message, None)
        progress("planning")
        policy = _policy(owner, desired, options)
        if owned is None:
            plan = make_plan(desired.specs, state.actual, state.inventory, policy, desired.digests)
        else:
            plan = plan_touched(desired.specs, state, policy, desired.digests, owned)
        if options.only_files:
            restricted = _restricted(plan, desired, options.only_files)
            if isinstance(restricted, str):
                return _with(base, error=restricted, conditions=stalled(Reason.SOURCE_FAILED, restricted))
            plan = restricted
        base = _with(base, plan=plan, diagnostics=diagnostics, warnings=snapshot.lfs_warnings(desired.tree))
        if plan.refused:
            return self._stall(base, options, Reason.PRUNE_BLOCKED, " ".join(plan.refusals), plan)
        if options.dry_run:
            return _with(base, conditions=_outcome_conditions(plan, desired))
        if plan.writes:
            self.on_writing(base)
        progress("building and uploading code")
        try:
            app = self._application(snapshot, owner, plan, desired, _outcome_conditions(plan, desired))
            if options.only_files:  # part of the commit: the owner's applied revision stays
                app = replace(app, revision=status.last_applied_revision if status else None)
        except DeployctlError as exc:
            return self._stall(base, options, Reason.BUILD_FAILED, str(exc), plan, exc.retryable)
        progress("applying")
        return self._apply(base, plan, app)

    def _desired(
        self, snapshot: Snapshot, owner: str, status: SourceStatus | None, options: SyncOptions
    ) -> tuple[DesiredState, RegistryState, int | None]:
        """Re-read only what changed since the last apply when that is provably the same as a
        full pass: then the state holds the touched part of the registry, and the count is of
        every owned deployment. Otherwise (``--full``, first sync, drift, rewrite, errors) read
        everything, and the count is None."""
        variables = self.registry.read_variables()
        incremental = not (options.full or options.only_files)
        touched = find_touched(snapshot, self.registry, owner, status) if incremental else None
        if touched is not None:
            part = self.registry.read_part(owner, touched.files, ())
            desired = self.builder.build(
                snapshot,
                part.known,
                self.env,
                variables,
                touched.candidates,
                touched.tree,
                admit=self.registry.admit,
            )
            more = desired.specs.keys() - part.actual.keys()
            if more:  # created here, or declared elsewhere before: whose are they?
                part = self.registry.read_part(owner, touched.files, more)
            # a problem, an identity also declared by an untouched file, or a write since the
            # count (the part would not be what was counted) needs every file
            if (
                desired.load.ok
                and part.generation == touched.generation
                and not touched.declared_elsewhere(part, owner, more)
            ):
                return desired, part, touched.owned
        state = self.registry.read_state(owner)
        desired = self.builder.build(
            snapshot, state.known, self.env, variables, admit=self.registry.admit
        )
        # the state holds the owner's deployments; the plan also needs those it declares but
        # does not own (another owner's, a person's), to leave them alone
        more = desired.specs.keys() - state.actual.keys()
        return desired, self.registry.read_declared(owner, state, more) if more else state, None

    def _apply(self, base: SyncResult, plan: Plan, app: Application) -> SyncResult:
        try:
            if plan.has_changes:
                failures = self.registry.apply(plan, app)
            else:
                failures = {}
                self.registry.record_status(app, plan, applied=True)
        except DeployctlError as exc:
            return self._stall(base, SyncOptions(), Reason.APPLY_FAILED, str(exc), plan, exc.retryable)
        conditions = after_apply(app.conditions, plan.writes, failures)
        return _with(
            base, applied=not failures, failures=failures, conditions=conditions, retryable=bool(failures)
        )

    def _up_to_date(self, snapshot: Snapshot, status: SourceStatus | None) -> bool:
        return (
            status is not None
            and status.last_applied_revision == snapshot.commit
            and status.last_attempted_revision == snapshot.commit
            and is_ready(status.conditions)
            and (status.repo_url, status.ref, status.path) == (snapshot.repo_url, snapshot.ref, snapshot.path)
            and status.applied_generation == self.registry.generation()
        )

    def _application(
        self,
        snapshot: Snapshot,
        owner: str,
        plan: Plan,
        desired: DesiredState,
        conditions: tuple[Condition, ...],
    ) -> Application:
        changed = [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE)]
        digests = {c.id: desired.specs[c.id].code_digest or "" for c in changed}
        uris = upload_missing(
            digests.values(), desired.code, lambda f: desired.tree.read_blob(f.blob, f.path), self.store
        )
        applied = {
            i: AppliedDeployment(desired.commits[i], desired.input_digests[i], uris[d])
            for i, d in digests.items()
        }
        backend = desired.load.settings.backend_options
        return Application(
            owner,
            snapshot.commit,
            snapshot.repo_url,
            snapshot.ref,
            snapshot.path,
            conditions,
            applied,
            backend,
            snapshot.identity,
        )

    def _stall(
        self,
        base: SyncResult,
        options: SyncOptions,
        reason: Reason,
        message: str,
        plan: Plan | None,
        retryable: bool = False,
        record: bool = True,
    ) -> SyncResult:
        conditions = stalled(reason, message)
        if record and not options.dry_run:
            app = Application(base.owner, base.revision, base.repo_url, base.ref, base.path, conditions)
            try:
                self.registry.record_status(app, plan, applied=False)
            except DeployctlError as exc:  # the registry itself is what failed: say both
                message = f"{message} (and the status could not be recorded: {exc})"
        return _with(base, error=message, conditions=conditions, retryable=retryable)

    def _refuse_settings(
        self, base: SyncResult, options: SyncOptions, problems: tuple[Diagnostic, ...]
    ) -> SyncResult:
        """``--partial`` freezes broken manifests, but ``.deployctl.yaml`` reaches every
        deployment and names the owner: unreadable, nothing is applied, and no status is
        written under an owner it may not declare (only under ``--owner``)."""
        message = (
            f"{SETTINGS_FILE} is invalid: --partial cannot freeze it (its owner, defaults and "
            "prune policy reach every deployment); nothing was applied: fix it and sync again"
        )
        refused = _with(base, diagnostics=problems)
        return self._stall(
            refused, options, Reason.VALIDATION_FAILED, message, None, record=bool(options.owner)
        )

    def _source_failed(self, options: SyncOptions, exc: DeployctlError) -> SyncResult:
        owner = options.owner or default_owner(self.source.display_url, self.source.requested_ref or "", "")
        message = str(exc)
        if options.owner and not options.dry_run:  # a derived owner is a guess: no status of its own
            message = self.record_source_failure(owner, message)
        conditions = stalled(Reason.SOURCE_FAILED, message)
        return SyncResult(owner, error=message, conditions=conditions, retryable=exc.retryable)

    def record_source_failure(self, owner: str, message: str) -> str:
        """Record in ``owner``'s status that its source could not be read (Stalled, reason
        SourceFailed, ``message``; since when: the status's ``updated_at``), as a refusal is
        recorded: the last applied revision, the last attempted one and the last outcomes
        stay. The next pass that reads a commit replaces it. Returns the message, saying also
        when the registry could not take it."""
        app = Application(
            owner,
            None,
            self.source.display_url,
            self.source.requested_ref or "",
            "",
            stalled(Reason.SOURCE_FAILED, message),
        )
        try:
            self.registry.record_status(app, None, applied=False)
        except DeployctlError as exc:
            return f"{message} (and the status could not be recorded: {exc})"
        return message


def source_refusal(
    status: SourceStatus | None, snapshot: Snapshot, options: SyncOptions
) -> tuple[str, bool] | None:
    """Why this commit must not be applied under the owner whose status is ``status``, and
    whether it comes from another repository; None when it may. An owner belongs to the
    repository its last applied revision came from, whatever the ref: another one is refused
    unless ``--adopt-owner`` moves it. In that repository, a ref whose last applied commit is
    not an ancestor of this one was rewritten, refused unless ``--allow-rewind``."""
    last = status.last_applied_revision if status else None
    if status is None or not last:
        return None
    # a status kept by an older deployctl knows the repository only by its URL
    same = (
        status.identity == snapshot.identity
        if status.identity is not None
        else status.repo_url == snapshot.repo_url
    )
    if not same:
        if options.adopt_owner:
            return None
        return (
            f"owner {status.owner} belongs to the repository {status.identity or status.repo_url} "
            f"(last applied {last[:12]} from '{status.ref}'), a different repository than "
            f"{snapshot.identity}; nothing was changed. Give this repository its own owner "
            "(owner: in .deployctl.yaml, or --owner), or pass --adopt-owner to move the owner "
            "to it (what it does not declare is then pruned)",
            True,
        )
    if options.allow_rewind or last == snapshot.commit or status.ref != snapshot.ref:
        return None
    if snapshot.descends_from(last):
        return None
    return (
        f"'{snapshot.ref}' was rewritten (force-push?): the last applied commit {last[:12]} is "
        f"not an ancestor of {snapshot.commit[:12]}; nothing was changed. To apply "
        f"{snapshot.commit[:12]} anyway, pass --allow-rewind",
        False,
    )


def _restricted(plan: Plan, desired: DesiredState, files: frozenset[str]) -> Plan | str:
    """The plan of what ``files`` declare, or why one of them declares nothing."""
    declared = {i: s.source.file for i, s in desired.specs.items() if s.source.file in files}
    silent = sorted(files - set(declared.values()) - desired.load.broken_files)
    if silent:
        return (
            f"{silent[0]} declares no deployment deployctl reads (is it matched by manifests: in "
            ".deployctl.yaml?); nothing was applied"
        )
    return restrict_plan(plan, frozenset(declared))


def _with(result: SyncResult, **changes: object) -> SyncResult:
    return replace(result, **changes)  # type: ignore[arg-type]


def _declared_owner(snapshot: Snapshot) -> tuple[str | None, tuple[Diagnostic, ...]]:
    """The ``owner:`` of the commit's ``.deployctl.yaml``, or the file's problems."""
    raw = snapshot.read_file(SETTINGS_FILE)
    if raw is None:  # an applied commit's pass imports no loader
        return None, ()
    from controller.loading.loader import repo_settings

    settings, problems = repo_settings(raw)
    return (None, problems) if problems else (settings.owner, ())


def _policy(owner: str, desired: DesiredState, options: SyncOptions) -> PlanPolicy:
    prune = desired.load.settings.prune
    return PlanPolicy(
        owner,
        prune=prune.enabled,
        max_prune_fraction=prune.max_fraction,
        allow_empty=options.allow_empty,
        force_prune=options.force_prune,
        frozen_files=desired.load.broken_files if options.partial else frozenset(),
    )


def _outcome_conditions(plan: Plan, desired: DesiredState) -> tuple[Condition, ...]:
    if plan.conflicts:
        names = ", ".join(plan.conflicts)
        return stalled(Reason.CONFLICT, f"not owned by this source, left untouched: {names}")
    if desired.load.broken_files:
        return stalled(
            Reason.VALIDATION_FAILED,
            f"applied partially: {len(desired.load.broken_files)} "
            "invalid file(s) frozen at their last applied state",
        )
    return ready()
