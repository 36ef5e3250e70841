"""One receiver's courier: a bounded queue and the thread that posts what it holds, with retries.

``offer`` never blocks: a full queue drops the new notice (and says so in the log). The thread
posts each notice until it is taken (2xx), refused for good (another 4xx) or out of attempts;
it retries connection errors, timeouts, 408, 429 and 5xx after 1, 2, 4 … times ``backoff``
seconds, or after what ``Retry-After`` asks (seconds or an HTTP date, at most ``MAX_WAIT``).
Logs name the receiver and the status, never its URL or secret.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from controller.adapters.notify.receivers import Post, Receiver

log = logging.getLogger("deployctl.notify")
MAX_WAIT = 300.0
RETRIED_STATUS = frozenset({408, 429})
Wait = Callable[[float], object]


class Courier:
    def __init__(
        self,
        receiver: Receiver,
        capacity: int,
        attempts: int,
        backoff: float = 1.0,
        wait: Wait | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.receiver, self.attempts, self.backoff = receiver, attempts, backoff
        self._queue: queue.Queue[Post | None] = queue.Queue(capacity)  # None: stop
        self._closing = threading.Event()
        self._wait = wait or self._closing.wait
        self._transport = transport
        self._idle = threading.Condition()
        self._pending = 0
        self.delivered = 0
        self._thread = threading.Thread(target=self._run, name=f"notify-{receiver.name}", daemon=True)
        self._thread.start()

    def offer(self, post: Post) -> bool:
        """Queue one request; False (logged) when the queue is full."""
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(post)
        except queue.Full:
            self._done()
            log.warning("receiver %s: queue full, a notice was dropped", self.receiver.name)
            return False
        return True

    def close(self, deadline: float) -> int:
        """Finish what is queued by ``deadline`` (``time.monotonic``); how many are left undelivered."""
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0, max(0.0, deadline - time.monotonic()))
            left = self._pending
        self._closing.set()  # a retry waiting past the deadline gives up, and the thread ends
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
        return left

    def _run(self) -> None:
        with httpx.Client(transport=self._transport, follow_redirects=False) as client:
            while not self._closing.is_set() and (item := self._queue.get()) is not None:
                try:
                    self._deliver(client, *item)
                finally:
                    self._done()

    def _done(self) -> None:
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _deliver(self, client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> None:
        name = self.receiver.name
        for attempt in range(1, self.attempts + 1):
            delay = self.backoff * 2 ** (attempt - 1)
            try:
                response = client.post(
                    url, content=body, headers=headers, timeout=self.receiver.timeout
                )
            except httpx.HTTPError as exc:
                why = type(exc).__name__  # never str(exc): it holds the URL
            else:
                if response.is_success:
                    self.delivered += 1
                    return
                why = f"HTTP {response.status_code}"
                if not _retried(response.status_code):
                    log.warning("receiver %s refused a notice (%s); not retried", name, why)
                    return
                delay = retry_after(response.headers.get("Retry-After"), datetime.now(UTC)) or delay
            if attempt < self.attempts:
                log.info("receiver %s: %s, retrying in %.1f s", name, why, min(delay, MAX_WAIT))
                self._wait(min(delay, MAX_WAIT))
            if attempt == self.attempts or self._closing.is_set():
                log.warning("receiver %s: gave up on a notice after %d attempt(s) (%s)", name, attempt, why)
                return


def _retried(status: int) -> bool:
    return status in RETRIED_STATUS or status >= 500


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds ``Retry-After`` asks to wait (a number or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
