"""One process at a time writes a remote's clone cache: an ``flock`` on a file beside it.

Two ``git fetch``es into one bare clone clash on git's own ref locks ("cannot lock ref"), and
a clash read as a broken cache made one process delete the folder another was reading. The
lock is taken for the whole update (clone, fetch, re-clone) and released when its file is
closed, so a process that dies holds nothing. A clash that outlasts the deadline, or one git
reports itself, is transient: the next pass retries. Called by ``git_remote.CachedRemote``.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_FIRST_WAIT, _LONGEST_WAIT = 0.01, 0.25


class CacheBusy(Exception):
    """Another process held the cache past the deadline."""


def is_lock_clash(detail: str) -> bool:
    """Whether git failed because another git process was writing the same repository."""
    text = detail.lower()  # "cannot lock ref 'refs/heads/main'", "Unable to create '...lock': File exists"
    return "cannot lock ref" in text or ("lock" in text and "file exists" in text)


@contextmanager
def cache_lock(
    path: Path,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> Iterator[None]:
    """Hold the exclusive lock on ``path`` (made if missing) until the block ends.

    Waits while another process holds it, until ``clock()`` passes ``deadline``; then raises
    ``CacheBusy``. Polled rather than blocking so that the wait keeps the git deadline.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        wait = _FIRST_WAIT
        while not _try_lock(descriptor):
            if clock() >= deadline:
                raise CacheBusy(
                    f"another deployctl process is updating the git cache ({path.name} is locked)"
                )
            pause(min(wait, max(0.0, deadline - clock())))
            wait = min(wait * 2, _LONGEST_WAIT)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
