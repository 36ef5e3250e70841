"""Work proportional to the change: which manifests a commit touched since the last apply.

``find_touched`` answers only when the registry provably holds what the last applied commit
declared, untouched since (same source, Ready, no failed write, no drift, and the new commit
descends from it); then one diff says which manifests may have changed and every other owned
deployment is a NOOP by construction. Any doubt answers None: the caller makes a full pass.
``plan_touched`` is ``make_plan`` over the touched part, with the registry's NOOPs merged back
and the prune rules counted against the whole owned set. Called by the reconciler.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controller.core.plan import Action, Change, Plan, PlanPolicy, make_plan, prune_refusals
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.core.state import ActualDeployment
from controller.core.status import is_ready
from controller.engine.desired import FolderIndex
from controller.errors import DeployctlError
from controller.ports import RegistryState, Snapshot, SyncOutcome

if TYPE_CHECKING:
    from controller.loading.models.repo_settings import RepoSettings

SYMLINK_MODE = "120000"
PROJECT_FILE = "prefect.yaml"
SETTINGS_FILE = ".deployctl.yaml"
"""As ``controller.loading``'s names, repeated so that a pass that finds its commit
already applied imports no loader (pydantic models cost half a second)."""


@dataclass(frozen=True)
class Touched:
    """The files to re-read, and the owned deployments taken as they are from the registry."""

    since: str
    candidates: frozenset[str]  # where to look for manifests: what lies under touched code folders
    unchanged: dict[DeploymentId, ActualDeployment]


def find_touched(
    snapshot: Snapshot, state: RegistryState, owner: str, last_outcomes: Sequence[SyncOutcome]
) -> Touched | None:
    status = state.status
    if (
        status is None
        or not status.last_applied_revision
        or not is_ready(status.conditions)
        or status.applied_generation != state.generation
        or (status.repo_url, status.ref, status.path) != (snapshot.repo_url, snapshot.ref, snapshot.path)
        or any(o.outcome == "failed" for o in last_outcomes)
    ):
        return None
    since = status.last_applied_revision
    try:
        if since != snapshot.commit and not snapshot.descends_from(since):
            return None
        changed = snapshot.changed_paths(since) if since != snapshot.commit else {}
    except DeployctlError:
        return None
    if SETTINGS_FILE in changed or any(SYMLINK_MODE in modes for modes in changed.values()):
        return None
    candidates = _touched_files(snapshot.tree.files(), changed, _settings(snapshot))
    files = candidates | changed.keys()  # a deleted manifest's deployments are touched too
    unchanged = {}
    for identity in state.inventory:
        actual = state.actual.get(identity)
        if actual is None or actual.owner != owner or actual.source_file in files:
            continue
        if _entry_leaves_folder(actual.record_json):
            return None
        unchanged[identity] = actual
    return Touched(since, candidates, unchanged)


def _touched_files(
    paths: Sequence[str], changed: Mapping[str, tuple[str, str]], settings: RepoSettings
) -> frozenset[str]:
    """Every file under a code folder that holds a changed path: its manifests must be read
    again, and the others say which files of the folder are inputs. Project files are always
    read again: their ``{{ $VAR }}`` placeholders depend on the environment."""
    from controller.loading.loader import find_manifests

    index = FolderIndex(paths)
    folders = {""}
    for path in changed:
        folder = posixpath.dirname(path)
        while folder not in folders:
            folders.add(folder)
            folder = posixpath.dirname(folder)
    code = {f for f in folders if find_manifests(index.directly_in(f), settings)}
    projects = [p for p in paths if p == PROJECT_FILE or p.endswith("/" + PROJECT_FILE)]
    code |= {posixpath.dirname(p) for p in find_manifests(projects, settings)}
    if "" in code:
        return frozenset(paths)
    return frozenset(p for folder in code for p in index.under(folder + "/"))


def _settings(snapshot: Snapshot) -> RepoSettings:
    from controller.loading.manifests import parse_repo_settings
    from controller.loading.models.repo_settings import RepoSettings

    tree = snapshot.tree
    if SETTINGS_FILE not in tree.files():
        return RepoSettings()
    settings, _ = parse_repo_settings(SETTINGS_FILE, tree.read(SETTINGS_FILE))
    return settings


def _entry_leaves_folder(record_json: str) -> bool:
    """Whether a stored record's entrypoint may resolve outside its code folder, where a
    change would not touch its manifest (records are canonical JSON, so a scan is enough)."""
    key = '"entrypoint":"'
    start = record_json.find(key)
    if start < 0:
        return True
    start += len(key)
    value = record_json[start : record_json.find('"', start)]
    return ".." in value or value.startswith("/") or "\\" in value


def plan_touched(
    desired: Mapping[DeploymentId, DeploymentSpec],
    state: RegistryState,
    policy: PlanPolicy,
    digests: Mapping[DeploymentId, str],
    unchanged: Mapping[DeploymentId, ActualDeployment],
) -> Plan:
    """The plan a full pass would make, when ``unchanged`` are owned and NOOP by construction.
    Their NOOP changes carry the registry's digest and no spec."""
    touched = make_plan(desired, state.actual, state.inventory - unchanged.keys(), policy, digests)
    noops = [Change(Action.NOOP, i, desired_digest=a.record_digest) for i, a in unchanged.items()]
    deletes = touched.of(Action.DELETE)
    upserts = sorted(
        [c for c in touched.changes if c.action is not Action.DELETE] + noops, key=lambda c: c.id
    )
    owned = touched.owned_count + len(unchanged)
    refusals = prune_refusals(len(desired) + len(unchanged), len(deletes), owned, policy)
    return Plan((*upserts, *deletes), touched.conflicts, touched.frozen, refusals, owned)
