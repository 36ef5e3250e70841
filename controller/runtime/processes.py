"""Process manager: start a flow's process in its own group, stream its output, stop it safely.

Each run is a new session (its own process group), so cancellation and timeouts signal the
whole tree: SIGTERM, a grace period, then SIGKILL. A group recorded by a runner that died is
killed only if its id was not reused: a process with that pid and a different start time
means the group is someone else's now. Output lines are read by one thread per stream into
a queue the runner drains. Linux ``/proc`` gives start times. Used by ``runtime.runner``.
"""

from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from controller.core.runs import iso

MAX_LINE = 10_000
LogLine = tuple[str, str, str, str]  # run id, timestamp, stream, line


@dataclass
class RunningProcess:
    run_id: str
    popen: subprocess.Popen[bytes]
    start_ticks: str | None
    started_at: datetime
    readers: list[threading.Thread]
    stderr_tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=8))
    stop_reason: str | None = None
    signalled_at: datetime | None = None

    @property
    def pgid(self) -> int:
        return self.popen.pid


def spawn(
    run_id: str,
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    lines: queue.Queue[LogLine],
    now: datetime,
    on_exit: threading.Event | None = None,
) -> RunningProcess:
    """Start ``argv`` in a new session; ``on_exit`` is set when its output closes (it ended)."""
    popen = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    process = RunningProcess(run_id, popen, start_ticks(popen.pid), now, [])
    for stream, pipe in (("stdout", popen.stdout), ("stderr", popen.stderr)):
        reader = threading.Thread(target=_pump, args=(process, stream, pipe, lines, on_exit), daemon=True)
        reader.start()
        process.readers.append(reader)
    return process


def _pump(
    process: RunningProcess,
    stream: str,
    pipe: object,
    lines: queue.Queue[LogLine],
    on_exit: threading.Event | None,
) -> None:
    for raw in iter(pipe.readline, b""):  # type: ignore[attr-defined]
        text = raw.decode("utf-8", "replace").rstrip("\n")[:MAX_LINE]
        if stream == "stderr":
            process.stderr_tail.append(text)
        lines.put((process.run_id, iso(datetime.now(UTC)), stream, text))
    pipe.close()  # type: ignore[attr-defined]
    if on_exit is not None:
        on_exit.set()


def start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def group_alive(pgid: int) -> bool:
    return signal_group(pgid, 0)


def kill_recorded_group(pgid: int, recorded_ticks: str | None) -> bool:
    """SIGKILL a group recorded by another runner, unless its id now belongs to someone else."""
    current = start_ticks(pgid)
    if current is not None and recorded_ticks is not None and current != recorded_ticks:
        return False
    return signal_group(pgid, signal.SIGKILL)
