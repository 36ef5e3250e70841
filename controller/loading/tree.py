"""The files of a source, whatever holds them: the seam between loading and storage.

``SourceTree`` is what loading reads: relative POSIX paths, their bytes, their symlinks and,
when the holder knows it, a content id for caching. ``DirectoryTree`` reads a folder on disk
(``deployctl validate``); the git adapter provides the same interface over a commit.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from typing import Protocol

SKIPPED_DIRS = frozenset({".git", ".deployctl", "__pycache__", ".venv", "node_modules"})


class SourceTree(Protocol):
    def files(self) -> Sequence[str]:
        """Every file and symlink below the root, as sorted relative POSIX paths."""
        ...

    def read(self, path: str) -> bytes:
        """The bytes of a file (a symlink's bytes are its target)."""
        ...

    def symlinks(self) -> Mapping[str, str]:
        """Symlink path -> its target as written in the link."""
        ...

    def content_id(self, path: str) -> str | None:
        """A stable id of the file's content (git blob id), or None when unknown."""
        ...


class DirectoryTree:
    """A folder on disk. Symlinks are reported, never followed."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = os.fspath(root)
        self._files: list[str] | None = None
        self._links: dict[str, str] = {}

    def files(self) -> Sequence[str]:
        if self._files is None:
            self._files = sorted(self._walk())
        return self._files

    def _walk(self) -> list[str]:
        found = []
        for folder, dirs, names in os.walk(self.root):
            rel = os.path.relpath(folder, self.root).replace(os.sep, "/")
            rel = "" if rel == "." else rel
            for d in list(dirs):
                if d in SKIPPED_DIRS:
                    dirs.remove(d)
                elif os.path.islink(os.path.join(folder, d)):
                    names.append(d)
            for name in names:
                path = posixpath.join(rel, name)
                full = os.path.join(folder, name)
                if os.path.islink(full):
                    self._links[path] = os.readlink(full)
                found.append(path)
        return found

    def read(self, path: str) -> bytes:
        full = os.path.join(self.root, *path.split("/"))
        if path in self.symlinks():
            return self._links[path].encode()
        with open(full, "rb") as handle:
            return handle.read()

    def symlinks(self) -> Mapping[str, str]:
        self.files()
        return self._links

    def content_id(self, path: str) -> str | None:
        return None


def escapes_root(path: str) -> bool:
    """True when a relative path, once normalised, leaves the tree (or is absolute)."""
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        return True
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def escaping_symlinks(tree: SourceTree) -> dict[str, str]:
    """Symlinks whose target lies outside the tree: link path -> target."""
    return {
        link: target
        for link, target in tree.symlinks().items()
        if target.startswith("/") or escapes_root(posixpath.join(posixpath.dirname(link), target))
    }
