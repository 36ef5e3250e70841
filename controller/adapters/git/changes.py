"""Which paths changed between two commits of a source: one ``git diff-tree`` call.

The incremental pass of the engine asks this for the commit it last applied and the new one,
and re-reads only what the answer touches. Paths are relative to the source's sub-folder;
each maps to its (old mode, new mode), ``000000`` meaning absent on that side.
Called through ``Snapshot.changed_paths`` in ``controller.adapters.git.source``.
"""

from __future__ import annotations

import git

from controller.errors import SourceUnavailable

ABSENT = "000000"


def changed_paths(repo: git.Repo, old: str, new: str, root: str) -> dict[str, tuple[str, str]]:
    """Path -> (old mode, new mode) of every file that differs between ``old`` and ``new``."""
    args = ["-c", "core.quotePath=false", "diff-tree", "-r", "-z", "--no-renames", old, new]
    if root:
        args += ["--", root + "/"]
    try:
        output: bytes = repo.git.execute(["git", *args], stdout_as_string=False)
    except (OSError, git.GitError) as exc:
        raise SourceUnavailable(f"cannot compare {old[:12]} with {new[:12]}: {exc}") from exc
    fields = output.decode("utf-8", "surrogateescape").split("\0")
    cut = len(root) + 1 if root else 0
    changed: dict[str, tuple[str, str]] = {}
    # -z output: ":old_mode new_mode old_sha new_sha status" NUL path NUL, repeated
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if meta.startswith(":"):
            old_mode, new_mode = meta[1:].split(" ", 2)[:2]
            changed[path[cut:]] = (old_mode, new_mode)
    return changed
