"""Work proportional to the change: which manifests a commit touched since the last apply.

``find_touched`` answers only when the registry provably holds what the last applied commit
declared, untouched since (same source, Ready, no failed write, no drift, and the new commit
descends from it); then one diff says which folders may have changed, and only those are
listed from git and read from the registry: every other owned deployment is a NOOP by
construction, counted and never read. Any doubt answers None: the caller makes a full pass.
``plan_touched`` is ``make_plan`` over the touched part, with the untouched NOOPs counted and
the prune rules held against the whole owned set. Called by the reconciler.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from controller.core.plan import Action, Plan, PlanPolicy, make_plan, prune_refusals
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import SourceStatus
from controller.core.status import is_ready
from controller.engine.desired import FolderIndex
from controller.errors import DeployctlError
from controller.ports import CommitTree, Registry, RegistryState, Snapshot

if TYPE_CHECKING:
    from controller.loading.models.repo_settings import RepoSettings

SYMLINK_MODE = "120000"
ABSENT_MODE = "000000"
PROJECT_FILE = "prefect.yaml"
SETTINGS_FILE = ".deployctl.yaml"
"""As ``controller.loading``'s names, repeated so that a pass that finds its commit
already applied imports no loader (pydantic models cost half a second)."""


@dataclass(frozen=True)
class Touched:
    """What an incremental pass reads: a part of the tree, and the manifests it re-plans."""

    since: str
    tree: CommitTree
    """The touched code folders in full, plus the files directly in their enclosing folders
    (the whole tree when a project sits at the root)."""
    code: frozenset[str]  # the code folders listed in full ("" when the whole tree is)
    candidates: frozenset[str]  # where to look for manifests: every file under ``code``
    files: frozenset[str]  # manifests whose deployments are re-planned: candidates and changed paths
    owned: int  # the owner's deployments in all, touched or not
    generation: int  # the registry's, when ``owned`` was counted: a part read later must match it

    def declared_elsewhere(self, state: RegistryState, owner: str, ids: Collection[DeploymentId]) -> bool:
        """Whether one of ``ids`` is an owned deployment of a manifest this pass did not read."""
        return any(
            (a := state.actual.get(i)) is not None and a.owner == owner and a.source_file not in self.files
            for i in ids
        )


def find_touched(
    snapshot: Snapshot, registry: Registry, owner: str, status: SourceStatus | None
) -> Touched | None:
    """``status``: the owner's, as the pass read it."""
    if (
        status is None
        or not status.last_applied_revision
        or not is_ready(status.conditions)
        or (status.repo_url, status.ref, status.path) != (snapshot.repo_url, snapshot.ref, snapshot.path)
        or registry.last_outcomes(owner, failed_only=True)
    ):
        return None
    since = status.last_applied_revision
    try:
        if since != snapshot.commit and not snapshot.descends_from(since):
            return None
        changed = snapshot.changed_paths(since) if since != snapshot.commit else {}
    except DeployctlError:
        return None
    if (
        SETTINGS_FILE in changed
        or any(SYMLINK_MODE in modes for modes in changed.values())
        or not all(_storable(p) for p in changed)
    ):
        return None
    settings = _settings(snapshot)
    if not settings.prune.enabled:  # owned deployments whose manifest is gone: only a full plan omits them
        return None
    summary = registry.owned_summary(owner, (PROJECT_FILE,))
    if summary.generation != status.applied_generation:  # written since: drift, a deletion, an edit
        return None
    folders = _enclosing(changed)
    code = _code_folders(snapshot, folders, changed, summary.named, settings)
    tree = snapshot.tree if "" in code else snapshot.part_tree(folders, code)
    if tree is None:
        return None
    index = FolderIndex(tree.files())
    candidates = frozenset(p for folder in code for p in index.under(folder + "/" if folder else ""))
    files = candidates | changed.keys()
    if summary.outside - files:  # a change anywhere may reach those: they must be read again
        return None
    return Touched(since, tree, frozenset(code), candidates, files, summary.count, summary.generation)


def _storable(path: str) -> bool:
    """Whether a registry can hold ``path`` (git names need not be UTF-8; a full pass says why not)."""
    try:
        path.encode()
    except UnicodeEncodeError:
        return False
    return True


def _enclosing(changed: Collection[str]) -> set[str]:
    """Every folder holding a changed path, at any depth ("" is the root)."""
    folders = {""}
    for path in changed:
        folder = posixpath.dirname(path)
        while folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    return folders


def _code_folders(
    snapshot: Snapshot,
    folders: set[str],
    changed: Mapping[str, tuple[str, str]],
    projects: frozenset[str],
    settings: RepoSettings,
) -> set[str]:
    """The enclosing folders that declare a manifest directly, whose every file is an input of
    it; and every project's folder: ``{{ $VAR }}`` placeholders depend on the environment, so
    a project is always read again. The registry names the projects that declared owned
    deployments; one that declared none while the source was Ready declares none now."""
    from controller.loading.loader import find_manifests

    index = FolderIndex(snapshot.files_in(folders))
    code = {f for f in folders if find_manifests(index.directly_in(f), settings)}
    present = {p for p in projects if changed.get(p, ("", ""))[1] != ABSENT_MODE}
    return code | {posixpath.dirname(p) for p in find_manifests(sorted(present), settings)}


def _settings(snapshot: Snapshot) -> RepoSettings:
    from controller.loading.loader import repo_settings

    return repo_settings(snapshot.read_file(SETTINGS_FILE))[0]


def plan_touched(
    desired: Mapping[DeploymentId, DeploymentSpec],
    state: RegistryState,
    policy: PlanPolicy,
    digests: Mapping[DeploymentId, str],
    owned: int,
) -> Plan:
    """The plan a full pass would make, when ``state`` holds the touched part of the registry
    and the rest of the ``owned`` deployments are NOOPs by construction."""
    touched = make_plan(desired, state.actual, state.inventory, policy, digests)
    unchanged = owned - touched.owned_count
    deletes = len(touched.of(Action.DELETE))
    refusals = prune_refusals(len(desired) + unchanged, deletes, owned, policy)
    return replace(touched, refusals=refusals, owned_count=owned, unchanged=unchanged)
