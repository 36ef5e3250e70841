"""The GitOps commands' service: validate a folder, and one reconcile pass (``plan`` stops
before building and applying, ``sync`` applies), for the CLI, ``up`` and the Python API.

The CLI reaches the engine and the loaders only through here: it passes the reconciler that
``app.App.reconciler`` wired and renders the values that come back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult

# The loaders are imported where used: a pass over an applied commit imports none (pydantic
# models cost half a second of every CI push).
if TYPE_CHECKING:
    from controller.loading.loader import LoadResult

__all__ = [
    "LoadResult",
    "SyncOptions",
    "SyncResult",
    "check_schemas",
    "run_pass",
    "validate_folder",
    "write_schemas",
]


def run_pass(
    reconciler: Reconciler, options: SyncOptions, progress: Callable[[str], None] = lambda step: None
) -> SyncResult:
    """One reconcile pass; a dry run (``plan``) writes nothing."""
    return reconciler.reconcile_once(options, progress)


def validate_folder(
    path: Path, runs_triggers: bool, trigger_kinds: frozenset[str] | None = None
) -> LoadResult:
    """Every manifest in the folder ``path`` as a sync would load it, without git or a registry;
    where the backend fires no triggers (``Capabilities.runs_triggers``), each one is warned of;
    where it does, those of kinds it does not run (``trigger_kinds``) are refused."""
    from controller.loading.loader import load_manifests, warn_triggers
    from controller.loading.tree import DirectoryTree
    from controller.loading.trigger_checks import check_triggers

    tree = DirectoryTree(path)
    result = load_manifests(tree)
    return check_triggers(result, tree, trigger_kinds) if runs_triggers else warn_triggers(result, tree)


def write_schemas(folder: Path) -> Sequence[str]:
    """The JSON Schemas of every accepted file, written into ``folder``; their names."""
    from controller.loading.schemas import write_schemas as write

    return write(folder)


def check_schemas(folder: Path) -> Sequence[str]:
    """The schemas in ``folder`` that differ from this deployctl's models."""
    from controller.loading.schemas import stale_schemas

    return stale_schemas(folder)
