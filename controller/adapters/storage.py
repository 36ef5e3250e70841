"""Artifact storage: content-addressed code packages in a local folder or any fsspec URL.

An artifact's name is its digest, so "already uploaded" is an existence check and an
upload never overwrites different content. Writes go to a temporary name and are renamed
into place, so a reader never sees half an artifact. Chosen by ``open_storage(url)``.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from controller.errors import ConfigError, RegistryUnavailable
from controller.ports import ArtifactStore

SUFFIX = ".tar.gz"


class LocalStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}{SUFFIX}"

    def has(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def put(self, digest: str, data: bytes) -> str:
        path = self._path(digest)
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except OSError as exc:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)
            if exc.errno == errno.ENOSPC:
                raise RegistryUnavailable(f"no space left while writing {path}; nothing was applied") from exc
            raise RegistryUnavailable(f"cannot write artifact {path}: {exc.strerror}") from exc
        return self.uri(digest)

    def get(self, digest: str) -> bytes:
        return self._path(digest).read_bytes()

    def uri(self, digest: str) -> str:
        return self._path(digest).resolve().as_uri()


class FsspecStore:
    """Any fsspec filesystem (``s3://bucket/prefix``, ``gcs://…``, ``memory://…``)."""

    def __init__(self, url: str) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.base = fsspec.core.url_to_fs(self.url)

    def _path(self, digest: str) -> str:
        return f"{self.base}/{digest[:2]}/{digest}{SUFFIX}"

    def has(self, digest: str) -> bool:
        return bool(self.fs.exists(self._path(digest)))

    def put(self, digest: str, data: bytes) -> str:
        path = self._path(digest)
        try:
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self.fs.pipe_file(path, data)
        except Exception as exc:  # fsspec backends raise their own exception classes
            raise RegistryUnavailable(f"cannot upload artifact to {self.uri(digest)}: {exc}") from exc
        return self.uri(digest)

    def get(self, digest: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(digest)))

    def uri(self, digest: str) -> str:
        return f"{self.url}/{digest[:2]}/{digest}{SUFFIX}"


def read_artifact(uri: str) -> bytes:
    """The bytes of an artifact from the URI the registry recorded for it."""
    if uri.startswith("file://"):
        return Path(url2pathname(urlparse(uri).path)).read_bytes()
    import fsspec

    with fsspec.open(uri, "rb") as handle:
        return bytes(handle.read())


def open_storage(url: str) -> ArtifactStore:
    if "://" not in url:
        return LocalStore(Path(url))
    if url.startswith("file://"):
        return LocalStore(Path(url.removeprefix("file://")))
    try:
        return FsspecStore(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"storage URL {url!r} is not usable: {exc}") from exc
