"""The canonical identity of a repository, whatever way its location was typed.

A URL is normalised (no credentials, lower-case host, no trailing slash, ``.git`` optional);
a local path or a ``file://`` URL becomes the resolved absolute top level of the repository.
Two spellings of one repository give one identity, two repositories never do. Also splits
credentials off a URL so they can travel through the environment. Called by ``git_source``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

_SCP_STYLE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[\w.-]+):(?!//)(?P<path>.*)$")


def is_remote(location: str) -> bool:
    return "://" in location or (bool(_SCP_STYLE.match(location)) and not Path(location).exists())


def split_credentials(url: str) -> tuple[str, str, str]:
    """``url`` without ``user:password@``, and the user and password it carried (or "")."""
    if "://" not in url:
        return url, "", ""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, "", ""
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password)


def clean_url(url: str) -> str:
    """The URL to fetch and to record: no credentials, lower-case host, no trailing slash."""
    bare, _, _ = split_credentials(url)
    if "://" not in bare:
        return bare.rstrip("/") or bare
    parts = urlsplit(bare)
    path = parts.path.rstrip("/") or parts.path
    return urlunsplit(parts._replace(netloc=parts.netloc.lower(), path=path))


def remote_identity(url: str) -> str:
    """A remote URL's identity: ``clean_url`` with ``.git`` dropped and scp-style spelled as ssh."""
    clean = clean_url(url)
    scp = _SCP_STYLE.match(clean) if "://" not in clean else None
    if scp:
        clean = f"ssh://{scp['host'].lower()}/{scp['path'].lstrip('/')}"
    parts = urlsplit(clean)
    path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
    netloc = parts.netloc.removeprefix("git@") if parts.scheme == "ssh" else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, path, "", ""))


def local_top_level(path: Path) -> Path | None:
    """The top level of the repository holding ``path`` (a bare repository is its own), or None."""
    path = path.resolve()
    for candidate in (path, *path.parents):
        if (candidate / ".git").exists():
            return candidate
        if (candidate / "HEAD").is_file() and (candidate / "objects").is_dir():
            return candidate
    return None


def file_url_path(url: str) -> Path | None:
    """The local folder a ``file://`` URL names, or None for any other URL."""
    if not url.startswith("file://"):
        return None
    path = Path(unquote(urlsplit(url).path))
    if not path.exists() and path.with_name(path.name + ".git").exists():
        path = path.with_name(path.name + ".git")  # git's own local transport tries this too
    return path


def repository_identity(location: str) -> str:
    """The identity of the repository at ``location`` (a path, a ``file://`` URL or a URL)."""
    local = file_url_path(location) if is_remote(location) else Path(location)
    if local is not None:
        top = local_top_level(local)
        if top is not None:
            return top.as_posix()
    return remote_identity(location)
