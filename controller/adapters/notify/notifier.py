"""``QueueNotifier``: the ``Notifier`` port over one courier per receiver and the ledger.

``send`` renders the notice for each receiver that wants its event and offers it to that
receiver's courier, then remembers it in the ledger; nothing here waits on the network.
``applying`` sets the forges' pending status of a pass that starts writing and keeps, in
memory, which receivers got it: the notice that ends that pass goes to them whatever their
``events``, and ``settle`` sends it to them alone when the ledger silences it (a retried
revision), so no commit is left pending. ``close`` gives the couriers one shared deadline.
Built by ``controller.app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from controller.adapters.notify.delivery import Courier
from controller.adapters.notify.forges import FORGES
from controller.adapters.notify.ledger import Ledger
from controller.adapters.notify.receivers import Post, Receiver, request_for
from controller.core.notices import WRITING_ENDS, Notice, NoticeKey

log = logging.getLogger("deployctl.notify")


class QueueNotifier:
    def __init__(self, couriers: Sequence[Courier], ledger: Ledger, drain_seconds: float) -> None:
        self.couriers, self.ledger, self.drain_seconds = list(couriers), ledger, drain_seconds
        self._pending: dict[str, tuple[str | None, list[Courier]]] = {}  # owner -> revision, couriers

    @classmethod
    def of(
        cls, receivers: Sequence[Receiver], ledger: Ledger, attempts: int, capacity: int, drain_seconds: float
    ) -> QueueNotifier:
        return cls([Courier(r, capacity, attempts) for r in receivers], ledger, drain_seconds)

    def last_sent(self, owner: str) -> NoticeKey | None:
        return self.ledger.last(owner)

    def send(self, notice: Notice) -> None:
        pending = self._ending(notice)
        wanting = [c for c in self.couriers if c.receiver.wants(notice) or c in pending]
        posts = self._posts(wanting, notice)
        self.ledger.remember(notice.owner, notice.key)  # first: the couriers, once woken, take the CPU
        self._offer(posts)

    def applying(self, notice: Notice) -> None:
        forges = [
            c for c in self.couriers
            if c.receiver.kind in FORGES and any(e.value in c.receiver.events for e in WRITING_ENDS)
        ]  # fmt: skip
        posts = self._posts(forges, notice)
        self._pending[notice.owner] = (notice.revision, [c for c, _ in posts])
        self._offer(posts)

    def settle(self, notice: Notice) -> None:
        self._offer(self._posts(self._ending(notice), notice))

    def _ending(self, notice: Notice) -> list[Courier]:
        """The couriers that set ``notice``'s commit pending in this process, forgotten now."""
        revision, couriers = self._pending.pop(notice.owner, (None, []))
        return couriers if revision == notice.revision else []

    def _posts(self, couriers: Sequence[Courier], notice: Notice) -> list[tuple[Courier, Post]]:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        return [(c, post) for c in couriers if (post := request_for(c.receiver, notice, stamp)) is not None]

    @staticmethod
    def _offer(posts: Sequence[tuple[Courier, Post]]) -> None:
        for courier, post in posts:
            courier.offer(post)

    def close(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.drain_seconds if timeout is None else timeout)
        for courier in self.couriers:
            left = courier.close(deadline)
            if left:
                log.warning("receiver %s: %d notice(s) undelivered at exit", courier.receiver.name, left)

