"""The files of one commit below a sub-folder, read from git objects: the ``CommitTree`` port.

Paths come from ``ls-tree -z``, so any name git can hold (quotes, tabs, backslashes,
newlines) is listed as it is. Symlinks that resolve inside the tree are presented as the
files they point to, so validation sees them and packages carry their content; links that
leave the tree or dangle stay links, and the loader refuses the escaping ones. Reads that
come in runs (every manifest, every entry file, every file of a package) are served by
pipelined read-ahead. Git LFS pointer files are named in ``lfs_pointers``. Made by the snapshot.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from controller.adapters.git.blobs import BlobReader
from controller.adapters.git.remote import GitFailed, run_git
from controller.errors import SourceUnavailable

SYMLINK_MODE = "120000"
READ_AHEAD = 512
"""Blobs fetched in one pipelined request once reads of one file name come in a run."""
_RUN = 2
_KEEP_BYTES = 64 << 20
_MAX_HOPS = 16
_LFS_SIGNATURE = b"version https://git-lfs.github.com/spec/v1"


class GitTree:
    def __init__(self, reader: BlobReader, entries: dict[str, tuple[str, str]]) -> None:
        self.reader = reader
        links = {p: sha for p, (mode, sha) in entries.items() if mode == SYMLINK_MODE}
        targets = dict(zip(links, reader.read_many(list(links.values())), strict=True))
        texts = {p: target.decode("utf-8", "replace") for p, target in targets.items()}
        self.entries, self._links = _resolve_links(entries, texts)
        self._link_paths = frozenset(links)
        self._files = sorted(self.entries)
        self._by_name: dict[str, list[str]] = {}  # file name -> blob ids, in path order
        for path in self._files:
            self._by_name.setdefault(posixpath.basename(path), []).append(self.entries[path][1])
        self._cursor: dict[str, int] = {}
        self._ahead: dict[str, bytes] = {}
        self._ahead_bytes = 0
        self._misses: dict[str, int] = {}

    def files(self) -> Sequence[str]:
        return self._files

    def read(self, path: str) -> bytes:
        return self.read_blob(self.entries[path][1], path)

    def read_blob(self, sha: str, path: str = "") -> bytes:
        """A blob by id; ``path`` (any suffix of the tree path) names it in errors and read-ahead."""
        data = self._ahead.get(sha)
        if data is not None:
            return data
        name = posixpath.basename(path)
        self._misses[name] = self._misses.get(name, 0) + 1
        wanted = [sha]
        if self._misses[name] >= _RUN:
            wanted += self._next_of_name(name, sha)
        try:
            blobs = self.reader.read_many(wanted)
        except SourceUnavailable as exc:
            raise SourceUnavailable(f"cannot read {path or 'blob'} ({sha[:12]}) from git: {exc}") from exc
        self._keep(zip(wanted, blobs, strict=True))
        return blobs[0]

    def _next_of_name(self, name: str, sha: str) -> list[str]:
        """Blobs of the next files with this name, in path order (the order callers read in)."""
        shas, start = self._by_name.get(name, []), self._cursor.get(name, 0)
        found: dict[str, None] = {}
        end = start
        while end < len(shas) and len(found) < READ_AHEAD:
            if shas[end] != sha and shas[end] not in self._ahead:
                found[shas[end]] = None
            end += 1
        self._cursor[name] = end
        return list(found)

    def _keep(self, blobs: Iterable[tuple[str, bytes]]) -> None:
        """Remember blobs read, oldest forgotten first past a memory bound."""
        for sha, data in blobs:
            if sha not in self._ahead:
                self._ahead[sha] = data
                self._ahead_bytes += len(data)
        while self._ahead_bytes > _KEEP_BYTES and self._ahead:
            oldest = next(iter(self._ahead))
            self._ahead_bytes -= len(self._ahead.pop(oldest))

    def symlinks(self) -> Mapping[str, str]:
        return self._links

    def links(self) -> Collection[str]:
        return self._link_paths

    def content_id(self, path: str) -> str | None:
        return self.entries[path][1]

    def mode(self, path: str) -> str:
        return self.entries[path][0]

    def lfs_pointers(self) -> list[str]:
        """Files that are Git LFS pointers rather than content (only looked for where LFS is set up)."""
        attributes = [p for p in self._files if posixpath.basename(p) == ".gitattributes"]
        if not any(b"filter=lfs" in self.read(p) for p in attributes):
            return []
        blobs = [p for p in self._files if p not in self._links]
        sizes = self.reader.sizes([self.entries[p][1] for p in blobs])
        small = [p for p, size in zip(blobs, sizes, strict=True) if size < 1024]
        contents = self.reader.read_many([self.entries[p][1] for p in small])
        return [p for p, data in zip(small, contents, strict=True) if data.startswith(_LFS_SIGNATURE)]


def read_tree(git_dir: Path, reader: BlobReader, commit: str, path: str) -> GitTree:
    args = ["--git-dir", str(git_dir), "ls-tree", "-r", "-z", "--full-tree", commit]
    if path:
        args += ["--", path + "/"]
    try:
        output = run_git(args, {}, timeout=600.0)
    except GitFailed as exc:
        raise SourceUnavailable(f"cannot list the files of {commit[:12]}: {exc.detail}") from exc
    entries: dict[str, tuple[str, str]] = {}
    cut = len(path) + 1 if path else 0
    for record in output.split("\0"):
        if not record:
            continue
        meta, name = record.split("\t", 1)
        mode, kind, sha = meta.split(" ")
        if kind == "blob":
            entries[name[cut:]] = (mode, sha)
    return GitTree(reader, entries)


def _resolve_links(
    entries: Mapping[str, tuple[str, str]], targets: Mapping[str, str]
) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """Entries with in-tree links replaced by what they point to; the links left unresolved."""
    if not targets:
        return dict(entries), {}
    real = {p: e for p, e in entries.items() if p not in targets}
    resolved = dict(real)
    unresolved: dict[str, str] = {}
    folders = _folders(real)
    for link, target in targets.items():
        found = _follow(link, targets, real, folders)
        if found is None:
            resolved[link], unresolved[link] = entries[link], target
        elif found in real:
            resolved[link] = real[found]
        else:
            for path in folders[found]:
                resolved[f"{link}/{path[len(found) + 1 :]}"] = real[path]
    return resolved, unresolved


def _follow(
    link: str, targets: Mapping[str, str], real: Mapping[str, object], folders: Mapping[str, list[str]]
) -> str | None:
    """The real file or folder a link ends at inside the tree, or None (outside, dangling, a loop)."""
    current = link
    for _ in range(_MAX_HOPS):
        target = targets[current]
        if target.startswith("/"):
            return None
        place = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
        if place == ".." or place.startswith("../"):
            return None
        if place in real or place in folders:
            return place
        if place not in targets:
            return None
        current = place
    return None


def _folders(paths: Iterable[str]) -> dict[str, list[str]]:
    """Every folder (not the root) -> the real files below it."""
    folders: dict[str, list[str]] = {}
    for path in paths:
        folder = posixpath.dirname(path)
        while folder:
            folders.setdefault(folder, []).append(path)
            folder = posixpath.dirname(folder)
    return folders


class FolderWalk:
    """Chosen folders of one commit, listed by reading their tree objects and nothing else:
    an incremental pass lists the few folders a commit touched, not the whole tree. Tree
    objects are read through the batch reader a level at a time, so any name git can hold
    is found as it is. Paths are relative to the source's sub-folder ``base``."""

    def __init__(self, reader: BlobReader, commit: str, base: str) -> None:
        self.reader = reader
        self._id_bytes = len(commit) // 2  # 20 for SHA-1 repositories, 32 for SHA-256
        self._sha: dict[str, str | None] = {"": _commit_tree(reader, commit)}
        self._listed: dict[str, list[tuple[str, str, str]]] = {}  # folder -> (name, mode, sha)
        for part in base.split("/") if base else ():
            self._sha = {"": self._child(part)}
            self._listed.clear()

    def files_in(self, folders: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Path -> (mode, blob id) of the files directly in each of ``folders`` ("" is the root)."""
        folders = set(folders)
        self._list(folders)
        return {
            _join(folder, name): (mode, sha)
            for folder in folders
            for name, mode, sha in self._listed.get(folder, ())
            if not mode.startswith(("4", "16"))
        }

    def files_under(self, folders: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Path -> (mode, blob id) of every file at any depth below each of ``folders``."""
        found: dict[str, tuple[str, str]] = {}
        level = set(folders)
        while level:
            found |= self.files_in(level)
            level = {
                _join(folder, name)
                for folder in level
                for name, mode, _ in self._listed.get(folder, ())
                if mode.startswith("4")
            }
        return found

    def _list(self, folders: set[str]) -> None:
        wanted: set[str] = set()
        for folder in folders:
            while folder not in wanted and folder not in self._listed:
                wanted.add(folder)
                if not folder:
                    break
                folder = posixpath.dirname(folder)
        for depth in sorted({_depth(f) for f in wanted}):
            level = [f for f in wanted if _depth(f) == depth]
            present = [f for f in level if self._sha.get(f)]
            raws = self.reader.read_many([self._sha[f] or "" for f in present])
            for folder in level:
                self._listed[folder] = []
            for folder, raw in zip(present, raws, strict=True):
                self._listed[folder] = entries = _tree_entries(raw, self._id_bytes)
                for name, mode, sha in entries:
                    if mode.startswith("4"):
                        self._sha[_join(folder, name)] = sha

    def _child(self, name: str) -> str | None:
        self._list({""})
        found = [sha for n, mode, sha in self._listed[""] if n == name and mode.startswith("4")]
        return found[0] if found else None


def _commit_tree(reader: BlobReader, commit: str) -> str:
    header = reader.read_many([commit])[0].split(b"\n", 1)[0]
    if not header.startswith(b"tree "):
        raise SourceUnavailable(f"cannot read the tree of {commit[:12]} from git")
    return header[5:].decode()


def _tree_entries(raw: bytes, id_bytes: int) -> list[tuple[str, str, str]]:
    """A raw tree object's (name, mode, id) entries: ``<mode> <name>\\0<binary id>`` repeated."""
    entries, at = [], 0
    while at < len(raw):
        space = raw.index(b" ", at)
        end = raw.index(b"\0", space)
        name = raw[space + 1 : end].decode("utf-8", "surrogateescape")
        sha = raw[end + 1 : end + 1 + id_bytes].hex()
        entries.append((name, _canonical_mode(int(raw[at:space], 8)), sha))
        at = end + 1 + id_bytes
    return entries


def _canonical_mode(mode: int) -> str:
    """A mode as git reads it (and ``git ls-tree`` prints it): old tools wrote ``040000`` for a
    folder or ``100664`` for a file, which git takes for ``40000`` and ``100644``."""
    kind = mode & 0o170000
    if kind == 0o100000:
        return "100755" if mode & 0o100 else "100644"
    return {0o120000: "120000", 0o040000: "40000"}.get(kind, "160000")


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _depth(folder: str) -> int:
    return folder.count("/") + 1 if folder else 0
