"""Reads git objects in bulk: one long-lived ``git cat-file --batch``, requests pipelined.

A batch of object ids is written by a helper thread while the answers are read, so reading
thousands of blobs costs one process and no round trip per object. Also answers sizes
(``--batch-check``) without reading contents. Called by ``git_tree``.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from controller.errors import SourceUnavailable


class _Batch:
    """One ``git cat-file`` process answering requests in order."""

    def __init__(self, git_dir: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "cat-file", mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.lock = threading.Lock()
        self.dead = False
        weakref.finalize(self, _stop, self.process)

    def ask(self, shas: Sequence[str], with_content: bool) -> list[tuple[str, int, bytes]]:
        """(type, size, content) per id, in order; content is empty for ``--batch-check``."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = "".join(f"{sha}\n" for sha in shas).encode()
        with self.lock:
            writer = threading.Thread(target=_write, args=(self.process.stdin, request), daemon=True)
            writer.start()
            try:
                answers = [_answer(self.process.stdout, with_content) for _ in shas]
            except (SourceUnavailable, OSError, ValueError):
                _stop(self.process)  # unread answers would poison every later request
                self.dead = True
                raise
            finally:
                writer.join()
        return answers


def _write(stream: IO[bytes], data: bytes) -> None:
    try:
        stream.write(data)
        stream.flush()
    except OSError:  # the reader reports the dead process
        return


def _answer(stream: IO[bytes], with_content: bool) -> tuple[str, int, bytes]:
    header = stream.readline().decode("utf-8", "replace").split()
    if len(header) != 3:
        raise SourceUnavailable(f"cannot read {' '.join(header) or 'an object'} from git")
    kind, size = header[1], int(header[2])
    if not with_content:
        return kind, size, b""
    data = stream.read(size + 1)
    if len(data) != size + 1:
        raise SourceUnavailable(f"git stopped while reading {header[0][:12]}")
    return kind, size, data[:-1]


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    if process.stdin is not None:
        with contextlib.suppress(OSError):
            process.stdin.close()
    process.wait()


class BlobReader:
    """Blob contents and sizes of one repository, read through long-lived batch processes."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self._contents: _Batch | None = None
        self._sizes: _Batch | None = None

    def read_many(self, shas: Sequence[str]) -> list[bytes]:
        if not shas:
            return []
        if self._contents is None or self._contents.dead:
            self._contents = _Batch(self.git_dir, "--batch")
        return [data for _, _, data in self._contents.ask(shas, with_content=True)]

    def sizes(self, shas: Sequence[str]) -> list[int]:
        if not shas:
            return []
        if self._sizes is None or self._sizes.dead:
            self._sizes = _Batch(self.git_dir, "--batch-check")
        return [size for _, size, _ in self._sizes.ask(shas, with_content=False)]
