"""Git source: a local repository or a URL, a ref and a sub-folder -> a snapshot of one commit.

Uses gitpython. URLs are cloned once (bare) into a cache and fetched afterwards; everything
is read from git objects at the resolved commit, never from a working tree. Credentials come
from the environment (``DEPLOYCTL_GIT_TOKEN``, ``DEPLOYCTL_GIT_SSH_KEY``) or the user's git
config, are passed to git through its environment, and are redacted from every message.
Called by the app's composition root; the reconciler sees only ``Snapshot``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import git

from controller.adapters.git_history import InputFilter, last_changing_commits
from controller.errors import InvalidSource, SourceUnavailable
from controller.ports import SourceSpec

_SCP_STYLE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_SYMLINK_MODE = "120000"


def is_remote(location: str) -> bool:
    return "://" in location or bool(_SCP_STYLE.match(location))


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Remove user:password@ from URLs and every known secret from ``text``."""
    text = _USERINFO.sub("***@", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@dataclass
class GitTree:
    """The files of one commit below a sub-folder: a ``SourceTree`` read from git objects."""

    repo: git.Repo
    entries: dict[str, tuple[str, str]]  # path -> (mode, blob sha)
    _files: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._files = sorted(self.entries)
        self._links = {
            p: self.read(p).decode("utf-8", "replace")
            for p, (mode, _) in self.entries.items()
            if mode == _SYMLINK_MODE
        }

    def files(self) -> Sequence[str]:
        return self._files

    def read(self, path: str) -> bytes:
        return self.read_blob(self.entries[path][1], path)

    def read_blob(self, sha: str, path: str = "") -> bytes:
        try:
            data: bytes = self.repo.odb.stream(bytes.fromhex(sha)).read()
        except (ValueError, OSError, git.GitError) as exc:
            raise SourceUnavailable(f"cannot read {path or 'blob'} ({sha[:12]}) from git: {exc}") from exc
        return data

    def symlinks(self) -> Mapping[str, str]:
        return self._links

    def content_id(self, path: str) -> str | None:
        return self.entries[path][1]

    def mode(self, path: str) -> str:
        return self.entries[path][0]


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

    @property
    def identity(self) -> str:
        return self.repo_url

    @functools.cached_property
    def tree(self) -> GitTree:
        return _read_tree(self.repo, self.commit, self.path)

    def read_file(self, relative: str) -> bytes | None:
        """One file of the commit without listing the tree, or None when there is none."""
        full = f"{self.path}/{relative}" if self.path else relative
        if _object_type(self.repo, self.commit, full) != "blob":
            return None
        data: bytes = self.repo.git.show(f"{self.commit}:{full}", stdout_as_string=False)
        return data

    def descends_from(self, ancestor: str) -> bool:
        """Whether ``ancestor`` is in this commit's history (False when it is gone altogether)."""
        try:
            self.repo.git.merge_base("--is-ancestor", ancestor, self.commit)
        except git.GitCommandError:
            return False
        return True

    def last_changing_commits(self, targets: Mapping[str, tuple[str, str, InputFilter]]) -> dict[str, str]:
        return last_changing_commits(self.repo, self.commit, self.path, targets)

    @functools.cached_property
    def warnings(self) -> tuple[str, ...]:
        return _uncommitted(self.repo, self.path) if self.local else ()


class GitSource:
    def __init__(self, spec: SourceSpec, cache_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.spec = spec
        self.cache_dir = cache_dir
        environ = os.environ if environ is None else environ
        self._token = environ.get("DEPLOYCTL_GIT_TOKEN", "")
        self._env = _git_environment(self._token, environ.get("DEPLOYCTL_GIT_SSH_KEY", ""))
        self.display_url = redact(spec.location, [self._token])
        self.requested_ref = spec.ref

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])

    def snapshot(self) -> Snapshot:
        remote = is_remote(self.spec.location)
        repo, prefix = (self._fetch_remote(), "") if remote else self._open_local()
        ref = self.spec.ref or _default_branch(repo, self.display_url)
        commit = self._resolve(repo, ref)
        path = "/".join(p for p in (prefix, self.spec.path.strip("/")) if p and p != ".")
        if path:
            _require_folder(repo, commit, path)
        return Snapshot(commit, ref, self.display_url, path, repo, local=not remote)

    def _open_local(self) -> tuple[git.Repo, str]:
        location = Path(self.spec.location).resolve()
        try:
            repo = git.Repo(location, search_parent_directories=True)
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise InvalidSource(
                f"{self.spec.location} is not inside a git repository: commit the "
                "manifests to git first (deployctl reads commits, not folders)"
            ) from exc
        top = Path(repo.working_tree_dir or repo.git_dir).resolve()
        prefix = location.relative_to(top).as_posix() if location != top else ""
        return repo, prefix

    def _fetch_remote(self) -> git.Repo:
        key = hashlib.sha256(_USERINFO.sub("", self.spec.location).encode()).hexdigest()[:16]
        folder = self.cache_dir / "git" / key
        try:
            if not (folder / "HEAD").exists():
                folder.parent.mkdir(parents=True, exist_ok=True)
                return git.Repo.clone_from(self.spec.location, folder, bare=True, env=self._env)
            repo = git.Repo(folder)
            repo.git.fetch(
                "--prune", "--force", "--tags", "origin", "+refs/heads/*:refs/heads/*", env=self._env
            )
            return repo
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise SourceUnavailable(
                f"the git cache {folder} is corrupt ({type(exc).__name__}): remove that folder and retry"
            ) from None
        except git.GitCommandError as exc:
            detail = self._redact(_last_line(exc.stderr))
            if "not a git repository" in detail or "corrupt" in detail or "bad object" in detail:
                raise SourceUnavailable(
                    f"the git cache {folder} is corrupt ({detail}): remove that folder and retry"
                ) from None
            raise SourceUnavailable(f"cannot fetch {self.display_url}: {detail}") from None

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


def _git_environment(token: str, ssh_key: str) -> dict[str, str]:
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        env |= {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        }
    if ssh_key:
        env["GIT_SSH_COMMAND"] = f"ssh -i '{ssh_key}' -o IdentitiesOnly=yes -o BatchMode=yes"
    return env


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


def _read_tree(repo: git.Repo, commit: str, path: str) -> GitTree:
    args = ["-r", "-z", "--full-tree", commit]
    if path:
        args += ["--", path + "/"]
    output = repo.git.ls_tree(*args)
    entries: dict[str, tuple[str, str]] = {}
    cut = len(path) + 1 if path else 0
    for line in output.split("\0"):
        if not line:
            continue
        meta, name = line.split("\t", 1)
        mode, kind, sha = meta.split(" ")
        if kind == "blob":
            entries[name[cut:]] = (mode, sha)
    return GitTree(repo, entries)


def _uncommitted(repo: git.Repo, path: str) -> tuple[str, ...]:
    if repo.bare:
        return ()
    try:
        status = repo.git.status("--porcelain", "--", path or ".")
    except git.GitCommandError:
        return ()
    count = len([line for line in status.splitlines() if line.strip()])
    if not count:
        return ()
    return (
        f"{count} uncommitted change{'s' * (count != 1)} under {path or 'the repository'} "
        "ignored: deployctl applies commits only",
    )


def _last_line(stderr: str | bytes | None) -> str:
    """The line of git's stderr that says what went wrong (gitpython wraps it in "stderr: '…'")."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    text = text.strip().removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith("fatal:")]
    return (fatal or lines or ["git failed"])[0]
