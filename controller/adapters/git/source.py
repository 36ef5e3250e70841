"""Git source: a local repository or a URL, a ref and a sub-folder -> a snapshot of one commit.

Uses gitpython for local reads. URLs are cloned once (bare) into a cache and fetched
afterwards (``git_remote``: bounded, credentials off disk and off command lines); everything
is read from git objects at the resolved commit, never from a working tree. A snapshot
carries the repository's canonical identity (``git_identity``), from which owners derive.
Secrets are redacted from every message. Called by the app's composition root; the
reconciler sees only ``Snapshot``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from controller.adapters.git.blobs import BlobReader
from controller.adapters.git.changes import changed_paths
from controller.adapters.git.history import InputFilter, last_changing_commits
from controller.adapters.git.identity import clean_url, is_remote, repository_identity
from controller.adapters.git.remote import DEFAULT_TIMEOUT, CachedRemote, GitFailed, auth_for, cache_folder
from controller.adapters.git.tree import SYMLINK_MODE, FolderWalk, GitTree, read_tree
from controller.core import redaction
from controller.errors import InvalidSource, SourceUnavailable
from controller.ports import CommitTree, SourceSpec

_LARGE_INDEX = 4 << 20
"""An index of this many bytes lists some 30,000 files: past it, untracked files are not
looked for in the working tree (uncommitted changes to tracked files still are)."""

__all__ = ["GitSource", "GitTree", "Snapshot", "is_remote", "redact"]


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove user:password@ from URLs and every known secret, as a whole token, from ``text``."""
    return redaction.redact(text, secrets)


@dataclass(frozen=True)
class Snapshot:
    """One commit of a source. Its tree and warnings are read on first use, so a pass that
    finds the commit already applied costs a ref lookup and nothing more."""

    commit: str
    ref: str
    repo_url: str
    path: str
    repo: git.Repo = field(repr=False)
    local: bool = False
    identity: str = ""
    """The repository's canonical identity: a normalised URL or the resolved top level."""
    notes: tuple[str, ...] = ()

    @functools.cached_property
    def tree(self) -> GitTree:
        return read_tree(Path(self.repo.git_dir), self._reader, self.commit, self.path)

    @functools.cached_property
    def _reader(self) -> BlobReader:
        return BlobReader(Path(self.repo.git_dir))

    @functools.cached_property
    def _walk(self) -> FolderWalk:
        return FolderWalk(self._reader, self.commit, self.path)

    def files_in(self, folders: Collection[str]) -> list[str]:
        return sorted(self._walk.files_in(folders))

    def part_tree(self, direct: Collection[str], under: Collection[str]) -> GitTree | None:
        entries = self._walk.files_in(direct) | self._walk.files_under(under)
        if any(mode == SYMLINK_MODE for mode, _ in entries.values()):
            return None
        return GitTree(self._reader, entries)

    def read_file(self, relative: str) -> bytes | None:
        """One file of the commit without listing the tree, or None when there is none."""
        full = f"{self.path}/{relative}" if self.path else relative
        if _object_type(self.repo, self.commit, full) != "blob":
            return None
        data: bytes = self.repo.git.show(f"{self.commit}:{full}", stdout_as_string=False)
        return data

    def uncommitted(self, files: Collection[str]) -> tuple[str, ...]:
        problems = []
        for relative in sorted(files):
            full = f"{self.path}/{relative}" if self.path else relative
            shown = _shown(self.repo, full)
            if _object_type(self.repo, self.commit, full) != "blob":
                problems.append(
                    f"{shown} is not committed at {self.ref} ({self.commit[:12]}): nothing was applied; "
                    f"commit it first (git add {shown} && git commit), then apply it again"
                )
            elif self.local and _dirty(self.repo, full):
                problems.append(
                    f"{shown} has uncommitted changes: nothing was applied; commit them (git commit "
                    f"{shown}) or undo them (git restore {shown}), then apply it again"
                )
        return tuple(problems)

    def descends_from(self, ancestor: str) -> bool:
        """Whether ``ancestor`` is in this commit's history (False when it is gone altogether)."""
        try:
            self.repo.git.merge_base("--is-ancestor", ancestor, self.commit)
        except git.GitCommandError:
            return False
        return True

    def last_changing_commits(self, targets: Mapping[str, tuple[str, str, InputFilter]]) -> dict[str, str]:
        return last_changing_commits(self.repo, self.commit, self.path, targets)

    def changed_paths(self, since: str) -> dict[str, tuple[str, str]]:
        return changed_paths(self.repo, since, self.commit, self.path)

    @functools.cached_property
    def warnings(self) -> tuple[str, ...]:
        uncommitted = _uncommitted(self.repo, self.path) if self.local else ()
        return (*self.notes, *uncommitted)

    def lfs_warnings(self, tree: CommitTree) -> tuple[str, ...]:
        return tuple(
            f"{p} is a Git LFS pointer, not the file's content: it is packaged as the pointer "
            "(deployctl does not fetch LFS objects); commit the file itself or fetch it in the flow"
            for p in tree.lfs_pointers()
        )


class GitSource:
    def __init__(
        self,
        spec: SourceSpec,
        cache_dir: Path,
        environ: Mapping[str, str] | None = None,
        timeout_cap: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.cache_dir, self.timeout_cap = cache_dir, timeout_cap
        self._environ = os.environ if environ is None else environ
        self._token = self._environ.get("DEPLOYCTL_GIT_TOKEN", "")
        self.display_url = redact(spec.location, [self._token])
        self.requested_ref = spec.ref

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])

    def snapshot(self) -> Snapshot:
        if is_remote(self.spec.location):
            repo, prefix, notes = self._fetch_remote()
            return self._snapshot(repo, prefix, notes)
        return self._snapshot(*self._open_local(), ())

    def snapshot_at(self, commit: str) -> Snapshot:
        """``commit`` as this source already holds it (a URL's cache, a local repository),
        without asking the remote: a drift pass re-applies the last applied revision."""
        if not is_remote(self.spec.location):
            return self._snapshot(*self._open_local(), (), commit)
        folder = cache_folder(self.spec.location, self.cache_dir / "git")
        try:
            repo = git.Repo(folder)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise SourceUnavailable(
                f"{self.display_url} is not in the git cache {folder} ({type(exc).__name__}): "
                "the next check of the remote fetches it"
            ) from None
        return self._snapshot(repo, "", (), commit)

    def _snapshot(
        self, repo: git.Repo, prefix: str, notes: tuple[str, ...], at: str | None = None
    ) -> Snapshot:
        if is_remote(self.spec.location):
            url, local = clean_url(self.spec.location), False
            identity = repository_identity(self.spec.location)
        else:
            top = _top_level(repo)
            url, identity, local = top.as_posix(), top.as_posix(), True
        ref = self.spec.ref or _default_branch(repo, self.display_url)
        commit = self._resolve(repo, ref) if at is None else self._held(repo, at)
        path = "/".join(p for p in (prefix, self.spec.path.strip("/")) if p and p != ".")
        if path:
            _require_folder(repo, commit, path)
        return Snapshot(commit, ref, url, path, repo, local, identity, notes)

    def _held(self, repo: git.Repo, commit: str) -> str:
        try:
            kind = str(repo.git.cat_file("-t", commit))
        except git.GitCommandError:
            kind = None
        if kind != "commit":
            raise SourceUnavailable(
                f"commit {commit[:12]} is not in the copy of {self.display_url} at hand: "
                "the next check of the remote fetches it"
            )
        return commit

    def _open_local(self) -> tuple[git.Repo, str]:
        location = Path(self.spec.location).resolve()
        try:
            repo = git.Repo(location, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise InvalidSource(
                f"{self.spec.location} is not inside a git repository: commit the "
                "manifests to git first (deployctl reads commits, not folders)"
            ) from exc
        top = _top_level(repo)
        prefix = location.relative_to(top).as_posix() if location != top else ""
        return repo, prefix

    def _fetch_remote(self) -> tuple[git.Repo, str, tuple[str, ...]]:
        auth = auth_for(self.spec.location, self._environ, self.cache_dir / "git", self.timeout_cap)
        cache = CachedRemote(self.spec.location, self.cache_dir / "git", auth)
        secrets = (self._token, *auth.secrets)
        try:
            folder = cache.update(follow_default_branch=self.spec.ref is None)
            repo = git.Repo(folder)
        except GitFailed as exc:
            detail = redact(exc.detail, secrets)
            raise SourceUnavailable(f"cannot fetch {self.display_url}: {detail}") from None
        except (git.InvalidGitRepositoryError, git.NoSuchPathError, OSError) as exc:
            raise SourceUnavailable(
                f"the git cache {cache.folder} is unusable ({type(exc).__name__}): "
                "remove that folder and retry"
            ) from None
        return repo, "", tuple(cache.warnings)

    def _resolve(self, repo: git.Repo, ref: str) -> str:
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/remotes/origin/{ref}", ref):
            try:
                return str(repo.git.rev_parse("--verify", "--quiet", f"{candidate}^{{commit}}"))
            except git.GitCommandError:
                continue
        raise InvalidSource(
            f"ref '{ref}' does not exist in {self.display_url} (was the branch "
            "deleted?): nothing was changed; the last applied revision stays in force"
        )


def _dirty(repo: git.Repo, full: str) -> bool:
    try:
        return bool(repo.git.status("--porcelain", "--", full))
    except git.GitCommandError as exc:
        raise SourceUnavailable(f"cannot read the state of {full}: {exc.stderr.strip()}") from None


def _shown(repo: git.Repo, full: str) -> str:
    """A path of the repository as the user would type it from where deployctl was started."""
    if repo.working_tree_dir is None:
        return full
    return os.path.relpath(Path(repo.working_tree_dir) / full)


def _top_level(repo: git.Repo) -> Path:
    return Path(repo.working_tree_dir or repo.git_dir).resolve()


def _default_branch(repo: git.Repo, url: str) -> str:
    try:
        return str(repo.git.symbolic_ref("--short", "HEAD"))
    except git.GitCommandError:
        raise InvalidSource(f"{url} has no default branch (HEAD is detached or unborn): pass --ref") from None


def _object_type(repo: git.Repo, commit: str, path: str) -> str | None:
    try:
        return str(repo.git.cat_file("-t", f"{commit}:{path}"))
    except git.GitCommandError:
        return None


def _require_folder(repo: git.Repo, commit: str, path: str) -> None:
    if _object_type(repo, commit, path) != "tree":
        raise InvalidSource(f"path '{path}' is not a folder at commit {commit[:12]}: check --path")


def _uncommitted(repo: git.Repo, path: str) -> tuple[str, ...]:
    if repo.bare:
        return ()
    index = Path(repo.git_dir) / "index"
    large = index.exists() and index.stat().st_size > _LARGE_INDEX
    try:  # untracked files are looked for by reading every folder: seconds in a large tree
        status = repo.git.status(
            "--porcelain", "-z", f"--untracked-files={'no' if large else 'normal'}", "--", path or "."
        )
    except git.GitCommandError:
        return ()
    count, skip = 0, False
    for record in status.split("\0"):  # -z: a rename or copy is followed by its original path
        if skip or not record:
            skip = False
            continue
        count, skip = count + 1, "R" in record[:2] or "C" in record[:2]
    if not count:
        return ()
    return (
        f"{count} uncommitted change{'s' * (count != 1)} under {path or 'the repository'} "
        "ignored: deployctl applies commits only",
    )
