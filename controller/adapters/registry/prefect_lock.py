"""One writer per owner at a time: a lease on a Prefect global concurrency limit of 1 slot.

Two CI jobs syncing one source at once must not mix their commits. The lease lives on the
server, so it holds across machines; it expires on its own (Prefect's repossessor frees it)
if a sync is killed, so a crash never locks an owner out for longer than ``DURATION``. Used
by ``PrefectRegistry.apply``, which also checks that nothing changed since the plan was read.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable

from controller.adapters.registry.prefect_client import PrefectApiError, PrefectClient
from controller.errors import RegistryUnavailable

DURATION = 60.0  # seconds (Prefect accepts 60 s to 1 day): a killed sync blocks its owner this long
WAIT = 300.0  # how long a second writer waits for the first before giving up
LIMITS = "/v2/concurrency_limits"


def lock_name(owner: str) -> str:
    return f"deployctl-sync-{hashlib.sha256(owner.encode()).hexdigest()[:24]}"


class SyncLease:
    def __init__(
        self, client: PrefectClient, owner: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.owner = owner
        self.name = lock_name(owner)
        self.clock = clock
        self.lease_id: str | None = None
        self._renewed = 0.0

    def __enter__(self) -> SyncLease:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        ensure_limit(self.client, self.name)
        deadline = self.clock() + WAIT
        while True:
            try:
                lease = self.client.write(
                    "POST",
                    f"{LIMITS}/increment-with-lease",
                    {"names": [self.name], "slots": 1, "mode": "concurrency", "lease_duration": DURATION},
                )
            except PrefectApiError as exc:
                if exc.status != 423:
                    raise
                if self.clock() >= deadline:
                    raise RegistryUnavailable(
                        f"another sync of owner {self.owner} has held the lock {self.name} for over "
                        f"{WAIT:.0f} s; nothing was applied; the next sync retries"
                    ) from exc
                self.client.sleep(min(max(exc.retry_after or 1.0, 0.2), 5.0))
                continue
            self.lease_id = str(lease["lease_id"])
            self._renewed = self.clock()
            return

    def renew(self) -> None:
        """Called between writes: keeps a long apply's lease alive."""
        if self.lease_id and self.clock() - self._renewed > DURATION / 3:
            self.client.write("POST", f"{LIMITS}/leases/{self.lease_id}/renew", {"lease_duration": DURATION})
            self._renewed = self.clock()

    def release(self) -> None:
        if self.lease_id is None:
            return
        lease, self.lease_id = self.lease_id, None
        # If the server is gone, the lease expires on its own after DURATION.
        with contextlib.suppress(RegistryUnavailable):
            self.client.write("POST", f"{LIMITS}/decrement-with-lease", {"lease_id": lease})


def ensure_limit(client: PrefectClient, name: str) -> None:
    """The global concurrency limit ``name`` with one slot, made once by whoever comes first,
    and active: a deactivated limit grants nothing, so no controller could ever write."""
    try:
        limit = client.get(f"{LIMITS}/{name}")
        if limit.get("active") is False:
            client.write("PATCH", f"{LIMITS}/{name}", {"active": True})
    except PrefectApiError as exc:
        if exc.status != 404:
            raise
        try:
            client.write("POST", f"{LIMITS}/", {"name": name, "limit": 1})
        except PrefectApiError as created:
            if created.status != 409:  # made by a concurrent first caller
                raise
