"""Work queues of the embedded engine: list, inspect, create, delete, limits, pause and resume.

A queue is named exactly; acting on one that does not exist is an error, never a new queue.
Called by the CLI's ``work-queue`` commands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from controller.core.runs import iso
from controller.errors import NotFound, UsageError
from controller.ports import QueueStore


@dataclass
class Queues:
    store: QueueStore

    def all(self) -> list[dict[str, Any]]:
        return self.store.list_queues()

    def get(self, name: str) -> dict[str, Any]:
        for queue in self.store.list_queues():
            if queue["name"] == name:
                return queue
        known = ", ".join(q["name"] for q in self.store.list_queues()) or "none"
        raise NotFound(f"no work queue {name!r} (queues: {known}; 'deployctl work-queue create {name}')")

    def create(self, name: str, concurrency_limit: int | None = None) -> dict[str, Any]:
        if not name.strip():
            raise UsageError("a work queue needs a name")
        if not self.store.create_queue(name, _now()):
            raise UsageError(f"work queue {name!r} exists already")
        if concurrency_limit is not None:
            self.store.update_queue(name, _now(), concurrency_limit=concurrency_limit)
        return self.get(name)

    def delete(self, name: str) -> None:
        users = self.store.delete_queue(name)
        if users is None:
            self.get(name)  # raises NotFound with the known queues
        elif users:
            raise UsageError(
                f"work queue {name!r} is used by {users} deployment(s): move them to another "
                "queue in git first"
            )

    def update(self, name: str, **changes: Any) -> dict[str, Any]:
        self.get(name)
        self.store.update_queue(name, _now(), **changes)
        return self.get(name)


def _now() -> str:
    return iso(datetime.now(UTC))
