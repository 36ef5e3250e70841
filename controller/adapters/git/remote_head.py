"""The cheap remote check of the controller loop: which commit does the watched ref point at now?

One ``git ls-remote`` for a URL (no objects are transferred), one ``rev-parse`` for a local
repository. Credentials, deadlines and redaction are those of the git source's remote cache
(``git_remote``): nothing secret on a command line or on disk. Built by the composition root;
the controller loop sees it as ``controller.runtime.controlling.ports.RemoteWatch``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from controller.adapters.git.identity import clean_url, is_remote
from controller.adapters.git.remote import DEFAULT_TIMEOUT, GitFailed, auth_for, run_git
from controller.adapters.git.source import redact
from controller.errors import InvalidSource, SourceUnavailable
from controller.ports import SourceSpec

_FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


class RemoteHead:
    def __init__(
        self,
        spec: SourceSpec,
        cache_dir: Path,
        environ: Mapping[str, str] | None = None,
        timeout_cap: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.spec, self.cache_dir, self.timeout_cap = spec, cache_dir, timeout_cap
        self._environ = os.environ if environ is None else environ
        self._token = self._environ.get("DEPLOYCTL_GIT_TOKEN", "")
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
        auth = auth_for(self.spec.location, self._environ, self.cache_dir / "git", self.timeout_cap)
        try:
            output = run_git(
                ["ls-remote", "--", clean_url(self.spec.location), ref], auth.environment(), auth.timeout
            )
        except GitFailed as exc:
            detail = redact(exc.detail, [self._token, *auth.secrets])
            raise SourceUnavailable(f"cannot reach {self.display_url}: {detail}") from None
        refs = {name: sha for sha, _, name in (line.partition("\t") for line in output.splitlines())}
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"):
            if name in refs:
                return refs[name]
        raise InvalidSource(
            f"ref '{ref}' does not exist in {self.display_url} (was the branch deleted?): "
            "the last applied revision stays in force"
        )

    def _local_head(self, ref: str) -> str:
        folder = Path(self.spec.location).resolve()
        if not folder.exists():
            raise InvalidSource(f"{self.spec.location} is not inside a git repository")
        try:
            return run_git(
                ["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], {}, 30.0, folder
            ).strip()
        except GitFailed:
            raise InvalidSource(f"ref '{ref}' does not exist in {self.spec.location}") from None
