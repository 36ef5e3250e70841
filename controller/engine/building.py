"""Build and upload: package each changed code folder from the commit, once per digest.

Packages are deterministic gzip'd tarballs (sorted entries, zero timestamps and owners, git's
file modes), named by the code digest computed from blob ids, so whether an upload is
needed is known before anything is read. Called by the reconciler for created and updated
deployments only.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable, Iterable, Mapping

from controller.engine.desired import CodeFile
from controller.ports import ArtifactStore


def package(files: Iterable[CodeFile], read: Callable[[CodeFile], bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for file in sorted(files, key=lambda f: f.path):
            data = read(file)
            info = tarfile.TarInfo(file.path)
            info.size, info.mtime, info.mode = len(data), 0, 0o755 if file.mode == "100755" else 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def upload_missing(
    digests: Iterable[str],
    code: Mapping[str, tuple[CodeFile, ...]],
    read: Callable[[CodeFile], bytes],
    store: ArtifactStore,
) -> dict[str, str]:
    """Upload every artifact not yet stored; return digest -> URI for all of them."""
    uris = {}
    for digest in sorted(set(digests)):
        if not store.has(digest):
            store.put(digest, package(code[digest], read))
        uris[digest] = store.uri(digest)
    return uris
