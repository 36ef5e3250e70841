"""``deployctl up`` as a real process, as a person starts it: only HOME set, the source typed
relative to the folder it is started from. Stopped with SIGTERM, which must exit 0."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_up(home: Path, source: str, grace: float = 5) -> Iterator[subprocess.Popen[str]]:
    """``up SOURCE`` started in ``home`` (HOME too), once it says it has started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "controller", "up", source, "--poll", "0.2", "--shutdown-grace", str(grace)],
        cwd=home, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        while "started" not in (line := process.stderr.readline()):
            assert line, "deployctl up exited before it started"
        # its log goes on (a line per trigger firing): read, so that a full pipe never blocks it
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
