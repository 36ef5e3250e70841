"""``NullNotifier``: the ``Notifier`` when no receiver is configured. Imports nothing, so that a
sync without notifications pays nothing for them (no httpx, no pydantic)."""

from __future__ import annotations

from controller.core.notices import Notice, NoticeKey


class NullNotifier:
    """No receiver configured: nothing is decided, sent or remembered."""

    def last_sent(self, owner: str) -> NoticeKey | None:
        return None

    def send(self, notice: Notice) -> None:
        return None

    def applying(self, notice: Notice) -> None:
        return None

    def settle(self, notice: Notice) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None
