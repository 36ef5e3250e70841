"""The clone cache of a remote repository: bounded network calls, credentials kept off disk.

Every network call is a ``git`` subprocess in its own process group with low-speed limits
and an overall deadline, and it dies with deployctl: the kernel kills git when its parent
goes (``PR_SET_PDEATHSIG``, set by util-linux's ``setpriv`` before it execs git), and on
Ctrl-C, SIGTERM or exit deployctl kills the whole group (remote helpers, ssh) itself, so no
clone outlives it against a silent remote. Nothing runs in the forked child before exec (no
``preexec_fn``): the HTTP server, the heartbeat and the runner are threads, and a child
forked beside them could hang on a lock before exec, with ``Popen`` waiting on it for ever.
Credentials travel through the environment only: a token as an ``http.extraHeader`` in
``GIT_CONFIG_*`` variables, ``user:password@`` from a URL through an askpass script that
reads them from variables. The cache is keyed by the credential-free URL,
cloned into a temporary folder and renamed into place; a cache that git cannot use is
re-cloned once, with a warning. One process at a time updates a cache (``git_cache_lock``),
and a clash with another git is transient, never damage. Called by ``git_source``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controller.adapters.git.cache_lock import CacheBusy, cache_lock, is_lock_clash
from controller.adapters.git.identity import clean_url, split_credentials

DEFAULT_TIMEOUT = 300.0
LOW_SPEED_BYTES = 1000
_ASKPASS = """#!/bin/sh
# deployctl: answers git's credential prompts from variables; holds no secret itself.
case "$1" in
  Username*) value=$DEPLOYCTL_ASKPASS_USERNAME ;;
  *) value=$DEPLOYCTL_ASKPASS_PASSWORD ;;
esac
[ -n "$value" ] || exit 1
printf '%s\\n' "$value"
"""


class GitFailed(Exception):
    """A git subprocess failed; ``detail`` is the line of its stderr that says why."""

    def __init__(self, detail: str, timed_out: bool = False) -> None:
        super().__init__(detail)
        self.detail, self.timed_out = detail, timed_out


def run_git(args: Sequence[str], env: Mapping[str, str], timeout: float, cwd: Path | None = None) -> str:
    """Run git to completion within ``timeout`` seconds, killing its whole process group if not,
    or if deployctl is interrupted or exits first."""
    process = subprocess.Popen(
        [*_DIE_WITH_PARENT, "git", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own group: git-remote-https and ssh die with it
    )
    with _LIVE_LOCK:
        _LIVE.add(process.pid)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise GitFailed(f"no answer within {timeout:g} s (DEPLOYCTL_GIT_TIMEOUT)", timed_out=True) from None
    except BaseException:  # Ctrl-C, SIGTERM (the CLI raises), exit: the clone does not outlive us
        _kill_group(process)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(process.pid)
    if process.returncode:
        raise GitFailed(last_line(err))
    return out.decode("utf-8", "surrogateescape")


_DIE_WITH_PARENT = ("setpriv", "--pdeathsig", "KILL", "--") if shutil.which("setpriv") else ()
"""Prefix that makes the kernel SIGKILL git when deployctl dies, even by SIGKILL (the one case
no handler of ours sees). Without util-linux's ``setpriv`` git still dies on every other exit."""
_LIVE: set[int] = set()
"""Process groups of git commands running now, killed at exit (a daemon thread's git too)."""
_LIVE_LOCK = threading.Lock()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


@atexit.register
def _kill_live_groups() -> None:
    with _LIVE_LOCK:
        for pgid in _LIVE:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def last_line(stderr: str | bytes | None) -> str:
    """The line of git's stderr that says what went wrong."""
    text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else (stderr or "")
    text = text.strip().removeprefix("stderr:").strip().strip("'").strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or ["git failed"])[0]


@dataclass
class RemoteAuth:
    """Credentials for one URL, as environment variables for git and nothing else."""

    token: str = ""
    ssh_key: str = ""
    user: str = ""
    password: str = ""
    askpass: Path | None = None
    timeout: float = DEFAULT_TIMEOUT
    secrets: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        self.secrets = tuple(s for s in (self.token, self.password) if s)

    def environment(self) -> dict[str, str]:
        low_speed_time = str(max(1, int(min(30.0, self.timeout))))
        env = {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_HTTP_LOW_SPEED_LIMIT": str(LOW_SPEED_BYTES),
            "GIT_HTTP_LOW_SPEED_TIME": low_speed_time,
        }
        config: list[tuple[str, str]] = []
        if self.token:
            basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
        if (self.user or self.password) and self.askpass is not None:
            # An empty helper list: no credential helper may store what the URL carried.
            config.append(("credential.helper", ""))
            env |= {
                "GIT_ASKPASS": str(self.askpass),
                "DEPLOYCTL_ASKPASS_USERNAME": self.user,
                "DEPLOYCTL_ASKPASS_PASSWORD": self.password,
            }
        if self.ssh_key:
            env["GIT_SSH_COMMAND"] = (
                f"ssh -i '{self.ssh_key}' -o IdentitiesOnly=yes -o BatchMode=yes "
                f"-o ConnectTimeout={low_speed_time} -o ServerAliveInterval=10 -o ServerAliveCountMax=3"
            )
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
        return env


def write_askpass(folder: Path) -> Path:
    """The askpass script (no secret in it), written once beside the caches."""
    script = folder / "askpass.sh"
    if not script.is_file() or script.read_text() != _ASKPASS:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".askpass-{os.getpid()}"
        temporary.write_text(_ASKPASS)
        temporary.chmod(0o700)
        os.replace(temporary, script)
    return script


@dataclass
class CachedRemote:
    """A bare clone of ``url`` under ``root``, fetched on demand and re-cloned if unusable."""

    location: str
    root: Path
    auth: RemoteAuth
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.url = clean_url(self.location)
        self.folder = cache_folder(self.location, self.root)
        self._deadline = time.monotonic() + self.auth.timeout

    def update(self, follow_default_branch: bool) -> Path:
        """Clone or fetch; with ``follow_default_branch``, point HEAD where the remote's points.

        One process at a time (a lock beside the folder), all within one deadline: waiting for
        the lock and every git call share ``auth.timeout``.
        """
        self._deadline = time.monotonic() + self.auth.timeout
        try:
            with cache_lock(self.root / f"{self.folder.name}.lock", self._deadline):
                return self._update(follow_default_branch)
        except CacheBusy as exc:
            raise GitFailed(f"{exc}: retry when it is done", timed_out=True) from None
        except GitFailed as exc:
            if not exc.timed_out:
                raise
            # each step ran with what was left of the deadline: say the deadline, not the rest
            limit = f"no answer within {self.auth.timeout:g} s (DEPLOYCTL_GIT_TIMEOUT)"
            raise GitFailed(limit, timed_out=True) from None

    def _update(self, follow_default_branch: bool) -> Path:
        env = self.auth.environment()
        self._remove_partial_clones()
        if not _usable(self.folder):
            if self.folder.exists():
                self.warnings.append(f"the git cache {self.folder} was incomplete: cloned it again")
            self._clone(env)
            return self.folder
        try:
            self._fetch(env)
        except GitFailed as exc:
            if exc.timed_out:
                raise
            if is_lock_clash(exc.detail):  # a git outside deployctl's lock is writing: not damage
                raise GitFailed(f"{exc.detail} (another git process is writing the cache: retry)") from None
            self.ls_remote(env)  # the remote answers: the cache is what failed
            self.warnings.append(f"the git cache {self.folder} was unusable ({exc.detail}): cloned it again")
            self._clone(env)
            return self.folder
        if follow_default_branch:
            self._follow_head(env)
        return self.folder

    def _remaining(self) -> float:
        """Seconds left of this update's deadline (at least one, so git can say why it stopped)."""
        return max(1.0, self._deadline - time.monotonic())

    def ls_remote(self, env: Mapping[str, str], *options: str) -> str:
        return run_git(["ls-remote", *options, "--", self.url, "HEAD"], env, self._remaining())

    def _fetch(self, env: Mapping[str, str]) -> None:
        refspec = "+refs/heads/*:refs/heads/*"
        fetch = ["fetch", "--prune", "--force", "--tags", "--", self.url, refspec]
        run_git(fetch, env, self._remaining(), self.folder)
        stored = run_git(["config", "--get", "remote.origin.url"], env, self._remaining(), self.folder)
        if stored.strip() != self.url:  # a cache written before URLs were cleaned held credentials
            run_git(["remote", "set-url", "origin", self.url], env, self._remaining(), self.folder)

    def _follow_head(self, env: Mapping[str, str]) -> None:
        for line in self.ls_remote(env, "--symref").splitlines():
            if line.startswith("ref: ") and line.endswith("\tHEAD"):
                target = line[5:].split("\t", 1)[0]
                run_git(["symbolic-ref", "HEAD", target], env, self._remaining(), self.folder)
                return

    def _clone(self, env: Mapping[str, str]) -> None:
        temporary = self.root / f".{self.folder.name}.partial-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            run_git(["clone", "--bare", "--quiet", "--", self.url, str(temporary)], env, self._remaining())
            # Moved aside, not deleted in place: the folder is never half there for a reader.
            replaced = self.root / f".{self.folder.name}.replaced-{os.getpid()}"
            if self.folder.exists():
                os.replace(self.folder, replaced)
            os.replace(temporary, self.folder)
            shutil.rmtree(replaced, ignore_errors=True)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def _remove_partial_clones(self) -> None:
        """Clones killed part-way leave a temporary folder; the process that made it is gone."""
        for stale in self.root.glob(f".{self.folder.name}.*-*"):  # .partial-PID, .replaced-PID
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)


def cache_folder(location: str, root: Path) -> Path:
    """The bare clone of ``location`` under ``root``, keyed by its credential-free URL."""
    return root / hashlib.sha256(clean_url(location).encode()).hexdigest()[:16]


def _usable(folder: Path) -> bool:
    return (folder / "HEAD").is_file() and (folder / "objects").is_dir() and (folder / "refs").is_dir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def auth_for(
    location: str, environ: Mapping[str, str], askpass_folder: Path, cap: float = DEFAULT_TIMEOUT
) -> RemoteAuth:
    """Credentials for ``location`` from the URL itself and ``DEPLOYCTL_GIT_*`` variables.

    The deadline is ``DEPLOYCTL_GIT_TIMEOUT`` (300 s by default), never over ``cap``: the
    controller caps it below its liveness limit, so a silent remote fails a pass, not the pod.
    """
    _, user, password = split_credentials(location)
    timeout = environ.get("DEPLOYCTL_GIT_TIMEOUT", "")
    return RemoteAuth(
        token=environ.get("DEPLOYCTL_GIT_TOKEN", ""),
        ssh_key=environ.get("DEPLOYCTL_GIT_SSH_KEY", ""),
        user=user,
        password=password,
        askpass=write_askpass(askpass_folder) if user or password else None,
        timeout=min(cap, float(timeout) if timeout.replace(".", "", 1).isdigit() else DEFAULT_TIMEOUT),
    )
