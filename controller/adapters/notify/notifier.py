"""``QueueNotifier``: the ``Notifier`` port over one courier per receiver and the ledger.

``send`` renders the notice for each receiver that wants its event and offers it to that
receiver's courier, then remembers it in the ledger; nothing here waits on the network.
``close`` gives the couriers one shared deadline. Built by ``controller.app``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from controller.adapters.notify.delivery import Courier
from controller.adapters.notify.ledger import Ledger
from controller.adapters.notify.receivers import Receiver, request_for
from controller.core.notices import Notice, NoticeKey

log = logging.getLogger("deployctl.notify")


class QueueNotifier:
    def __init__(self, couriers: Sequence[Courier], ledger: Ledger, drain_seconds: float) -> None:
        self.couriers, self.ledger, self.drain_seconds = list(couriers), ledger, drain_seconds

    @classmethod
    def of(
        cls, receivers: Sequence[Receiver], ledger: Ledger, attempts: int, capacity: int, drain_seconds: float
    ) -> QueueNotifier:
        return cls([Courier(r, capacity, attempts) for r in receivers], ledger, drain_seconds)

    def last_sent(self, owner: str) -> NoticeKey | None:
        return self.ledger.last(owner)

    def send(self, notice: Notice) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        wanting = [c for c in self.couriers if c.receiver.wants(notice)]
        posts = [(c, post) for c in wanting if (post := request_for(c.receiver, notice, stamp)) is not None]
        self.ledger.remember(notice.owner, notice.key)  # first: the couriers, once woken, take the CPU
        for courier, post in posts:
            courier.offer(post)

    def close(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (self.drain_seconds if timeout is None else timeout)
        for courier in self.couriers:
            left = courier.close(deadline)
            if left:
                log.warning("receiver %s: %d notice(s) undelivered at exit", courier.receiver.name, left)

