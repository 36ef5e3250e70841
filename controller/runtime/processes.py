"""Process manager: start a flow's process in its own group, stream its output, stop it safely.

Each run is a new session (its own process group), so cancellation, timeouts and the end of
the run signal the whole tree: SIGTERM, a grace period, then SIGKILL. A group recorded by a
runner that died is killed only if its id was not reused (same pid, same start time). Output
is read by one thread per stream in bounded chunks: a line is capped at ``MAX_LINE`` bytes
plus a truncation marker, so no output line can grow memory. A run keeps at most
``LogLimit`` lines and bytes of output; past it lines are counted and dropped at the reader,
before they reach the runner's (bounded) queue. Used by ``runtime.runner``.
"""

from __future__ import annotations

import collections
import os
import queue
import select
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from controller.core.runs import iso

MAX_LINE = 64 * 1024
CHUNK = 64 * 1024
LogLine = tuple[str, str, str, str]  # run id, timestamp, stream, line


@dataclass(frozen=True)
class LogLimit:
    """What one run may store; 0 is no limit."""

    lines: int = 100_000
    bytes: int = 16 * 1024 * 1024


@dataclass
class LogCount:
    """Output kept and dropped under a ``LogLimit``; shared by a run's two reader threads."""

    limit: LogLimit = field(default_factory=LogLimit)
    kept_lines: int = 0
    kept_bytes: int = 0
    dropped_lines: int = 0
    dropped_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, text: str) -> bool:
        size = len(text.encode("utf-8", "surrogateescape"))
        with self.lock:
            full = (self.limit.lines and self.kept_lines >= self.limit.lines) or (
                self.limit.bytes and self.kept_bytes + size > self.limit.bytes
            )
            if full or self.dropped_lines:  # once dropping, drop the rest: the log has one gap, at its end
                self.dropped_lines, self.dropped_bytes = self.dropped_lines + 1, self.dropped_bytes + size
                return False
            self.kept_lines, self.kept_bytes = self.kept_lines + 1, self.kept_bytes + size
            return True

    def marker(self) -> str | None:
        """The line that ends a log cut short, or None when nothing was dropped."""
        if not self.dropped_lines:
            return None
        return (
            f"[deployctl: {self.dropped_lines} more lines ({self.dropped_bytes} bytes) of output "
            "were dropped: "
            f"the run reached its log limit of {self.limit.lines or 'unlimited'} lines / "
            f"{self.limit.bytes or 'unlimited'} bytes (--max-log-lines, --max-log-bytes)]"
        )


@dataclass
class QueueWait:
    """How long a run's readers have waited for room in the runner's full queue: the runner's
    own slowness (a busy registry), which must not count against an ended flow's output drain."""

    waiting: int = 0
    since: float = 0.0
    total: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> None:
        with self.lock:
            if not self.waiting:
                self.since = time.monotonic()
            self.waiting += 1

    def __exit__(self, *_: object) -> None:
        with self.lock:
            self.waiting -= 1
            if not self.waiting:
                self.total += time.monotonic() - self.since

    def seconds(self) -> float:
        """Seconds waited so far (by at least one reader), the wait under way included."""
        with self.lock:
            return self.total + (time.monotonic() - self.since if self.waiting else 0.0)


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
    exited_at: float | None = None
    """Monotonic time the runner saw the process end; readers get a short drain after it."""
    queue_wait: QueueWait = field(default_factory=QueueWait)
    waited_at_exit: float = 0.0
    abandon: threading.Event = field(default_factory=threading.Event)
    output: LogCount = field(default_factory=LogCount)

    @property
    def pgid(self) -> int:
        return self.popen.pid

    def output_closed(self) -> bool:
        return not any(reader.is_alive() for reader in self.readers)

    def ended(self) -> None:
        """The runner saw the process end: the output drain starts now."""
        self.exited_at, self.waited_at_exit = time.monotonic(), self.queue_wait.seconds()

    def drained_for(self) -> float:
        """Seconds the readers have had since the process ended, less the time they waited for
        room in the runner's queue: only a pipe held open (an escaped child) uses them up."""
        assert self.exited_at is not None
        waited = self.queue_wait.seconds() - self.waited_at_exit
        return time.monotonic() - self.exited_at - waited


def spawn(
    run_id: str,
    argv: Sequence[str],
    env: dict[str, str],
    cwd: Path,
    lines: queue.Queue[LogLine],
    now: datetime,
    on_exit: threading.Event | None = None,
    log_limit: LogLimit | None = None,
) -> RunningProcess:
    """Start ``argv`` in a new session; ``on_exit`` is set when an output stream closes."""
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
    process.output.limit = log_limit or LogLimit()
    for stream, pipe in (("stdout", popen.stdout), ("stderr", popen.stderr)):
        assert pipe is not None
        reader = threading.Thread(
            target=_pump, args=(process, stream, pipe.fileno(), lines, on_exit), daemon=True
        )
        reader.start()
        process.readers.append(reader)
    return process


def _pump(
    process: RunningProcess,
    stream: str,
    fd: int,
    lines: queue.Queue[LogLine],
    on_exit: threading.Event | None,
) -> None:
    splitter = LineSplitter()
    try:
        _read(process, stream, fd, lines, on_exit, splitter)
    except (OSError, ValueError):  # the pipe was closed under an abandoned reader
        pass
    finally:
        if on_exit is not None:
            on_exit.set()


def _read(
    process: RunningProcess,
    stream: str,
    fd: int,
    lines: queue.Queue[LogLine],
    on_exit: threading.Event | None,
    splitter: LineSplitter,
) -> None:
    while not process.abandon.is_set():
        # select with a timeout: a pipe held open by an escaped child cannot pin this thread
        if not select.select([fd], [], [], 0.2)[0]:
            continue
        chunk = os.read(fd, CHUNK)
        if not chunk:
            break
        for text in splitter.feed(chunk):
            _emit(process, stream, text, lines, on_exit)
    for text in splitter.finish():
        _emit(process, stream, text, lines, on_exit)


def _emit(
    process: RunningProcess,
    stream: str,
    text: str,
    lines: queue.Queue[LogLine],
    wake: threading.Event | None,
) -> None:
    if stream == "stderr":
        process.stderr_tail.append(text)
    if not process.output.admit(text):
        return
    item = (process.run_id, iso(datetime.now(UTC)), stream, text)
    try:
        lines.put_nowait(item)
        return
    except queue.Full:  # a full queue slows the flow's output, never the runner
        pass
    with process.queue_wait:
        while not process.abandon.is_set():
            if wake is not None:
                wake.set()  # let the loop flush now
            try:
                lines.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


class LineSplitter:
    """Bytes in, lines out; a line longer than ``MAX_LINE`` keeps its head and a marker."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self.buffer = bytearray()
        self.dropped = 0

    def feed(self, chunk: bytes) -> list[str]:
        out = []
        while chunk:
            head, newline, chunk = chunk.partition(b"\n")
            room = self.limit - len(self.buffer)
            self.buffer += head[: max(room, 0)]
            self.dropped += max(len(head) - max(room, 0), 0)
            if newline:
                out.append(self._line())
        return out

    def finish(self) -> list[str]:
        return [self._line()] if self.buffer or self.dropped else []

    def _line(self) -> str:
        text = self.buffer.decode("utf-8", "replace").removesuffix("\r")
        if self.dropped:
            text += f" [line truncated: {self.dropped} more bytes]"
        self.buffer, self.dropped = bytearray(), 0
        return text


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
