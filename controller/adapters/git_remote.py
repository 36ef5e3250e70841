"""The cheap remote check of the controller loop: which commit does the watched ref point at now?

One ``git ls-remote`` for a URL (no objects are transferred), one ``rev-parse`` for a local
repository. Credentials and redaction are the git source's own. Built by the composition root;
the controller loop sees it as ``controller.runtime.controlling.ports.RemoteWatch``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

import git

from controller.adapters.git_source import _git_environment, _last_line, is_remote, redact
from controller.errors import InvalidSource, SourceUnavailable
from controller.ports import SourceSpec

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class RemoteHead:
    def __init__(self, spec: SourceSpec, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.spec = spec
        self._token = environ.get("DEPLOYCTL_GIT_TOKEN", "")
        self._env = _git_environment(self._token, environ.get("DEPLOYCTL_GIT_SSH_KEY", ""))
        self.display_url = redact(spec.location, [self._token])

    def remote_head(self) -> str:
        """The commit the ref points at; a full commit id as ``ref`` never moves."""
        ref = self.spec.ref or "HEAD"
        if _FULL_SHA.match(ref):
            return ref
        if is_remote(self.spec.location):
            return self._ls_remote(ref)
        return self._local_head(ref)

    def _ls_remote(self, ref: str) -> str:
        try:
            output = git.cmd.Git().ls_remote(self.spec.location, ref, env=self._env)
        except git.GitCommandError as exc:
            detail = redact(_last_line(exc.stderr), [self._token])
            raise SourceUnavailable(f"cannot reach {self.display_url}: {detail}") from None
        refs: dict[str, str] = {}
        for line in str(output).splitlines():
            sha, _, name = line.partition("\t")
            refs[name] = sha
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
            if name in refs:
                return refs[name]
        raise InvalidSource(
            f"ref '{ref}' does not exist in {self.display_url} (was the branch deleted?): "
            "the last applied revision stays in force"
        )

    def _local_head(self, ref: str) -> str:
        try:
            repo = git.Repo(Path(self.spec.location).resolve(), search_parent_directories=True)
            return str(repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}"))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise InvalidSource(f"{self.spec.location} is not inside a git repository") from exc
        except git.GitCommandError:
            raise InvalidSource(f"ref '{ref}' does not exist in {self.spec.location}") from None
