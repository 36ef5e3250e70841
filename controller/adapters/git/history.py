"""Finds, for each deployment, the newest commit that changed its inputs: its version.

One streamed ``git log --first-parent`` walk from the commit serves every deployment at once,
and stops as soon as each has been assigned, so a commit that changed one deployment costs
one step of history. A merge counts as the commit that brought its changes to the branch.
Called by ``controller.engine.desired``.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import closing
from typing import IO

import git

from controller.errors import SourceUnavailable

InputFilter = Callable[[str], bool]
"""Given a path relative to the code folder, whether it is an input (not .prefectignored)."""


def last_changing_commits(
    repo: git.Repo, commit: str, root: str, targets: Mapping[str, tuple[str, str, InputFilter]]
) -> dict[str, str]:
    """``targets``: key -> (manifest path, code folder, filter), paths relative to ``root``."""
    by_folder: dict[str, list[str]] = {}
    by_manifest: dict[str, list[str]] = {}
    for key, (manifest, folder, _) in targets.items():
        by_folder.setdefault(folder, []).append(key)
        by_manifest.setdefault(manifest, []).append(key)
    found: dict[str, str] = {}
    # the newest commit alone first: what a pass re-reads was most often changed by it, and
    # git lists a commit's paths only once it has listed the next one's (a root commit: all)
    for limit in (1, None):
        with closing(_walk(repo, commit, root, limit)) as history:
            for sha, paths in history:
                for path in paths:
                    for key in _owners(path, by_folder, by_manifest, targets):
                        found.setdefault(key, sha)
                if len(found) == len(targets):
                    return found
    return found


def _owners(
    path: str,
    by_folder: Mapping[str, list[str]],
    by_manifest: Mapping[str, list[str]],
    targets: Mapping[str, tuple[str, str, InputFilter]],
) -> Iterator[str]:
    yield from by_manifest.get(path, ())
    folder = posixpath.dirname(path)
    while True:
        key_folder = folder or "."
        for key in by_folder.get(key_folder, ()):
            relative = path if key_folder == "." else path[len(key_folder) + 1 :]
            if targets[key][2](relative):
                yield key
        if not folder:
            return
        folder = posixpath.dirname(folder)


def _walk(
    repo: git.Repo, commit: str, root: str, limit: int | None = None
) -> Generator[tuple[str, list[str]], None, None]:
    # -z: any name git can hold (quotes, tabs, backslashes, newlines) arrives as it is
    args = ["log", "-z", "--first-parent", "-m", "--name-only", "--no-renames", "--format=%x01%H"]
    args += [f"--max-count={limit}"] if limit else []
    cut = len(root) + 1 if root else 0
    process = repo.git.execute(["git", *args, commit, "--", root or "."], as_process=True)
    sha: str | None = None
    paths: list[str] = []
    try:
        for token in _records(process.stdout):
            if sha is not None and not paths:
                token = token.removeprefix("\n")  # the separator after the commit line
            if token.startswith("\x01"):
                if sha is not None:
                    yield sha, paths
                sha, paths = token[1:], []
            elif token:
                paths.append(token[cut:])
        if sha is not None:
            yield sha, paths
    except (OSError, git.GitError) as exc:
        raise SourceUnavailable(f"cannot read the history of {commit[:12]}: {exc}") from exc
    finally:
        if process.proc is not None:
            process.proc.kill()
            process.proc.wait()


def _records(stream: IO[bytes]) -> Iterator[str]:
    """NUL-terminated records of a stream, decoded as git paths are."""
    pending = b""
    while chunk := os.read(stream.fileno(), 65536):
        pending += chunk
        *complete, pending = pending.split(b"\0")
        for record in complete:
            yield record.decode("utf-8", "surrogateescape")
    if pending:
        yield pending.decode("utf-8", "surrogateescape")
