"""Per-owner controller rows on a Prefect server: the writer lease and the suspend flag.

The lease is a slot of a one-slot global concurrency limit, ``deployctl-controller-<hash>``,
taken with ``increment-with-lease``: the server grants it to exactly one caller, and its
repossessor frees it when the holder stops renewing, so a standby takes over after a killed
controller. Prefect's shortest lease is 60 s (and its repossessor looks every 15 s), so under
this backend a lease lasts at least 60 s, and a standby takes over within about 80 s.

Prefect forgets leases when it restarts but keeps slots counted: the holder names its lease
in a control document, and a standby proves an orphaned slot and resets it
(``prefect_lock.SlotHolder``).

The suspend flag and the refresh stamp (a webhook received by a standby, relayed to the active
controller) are block documents of their own, beside the owner's state document
(``prefect_state``), each written whole. Built by the composition root; the controller loop sees
``controller.runtime.controlling.ports.OwnerControl``. Apart from the lease, a Prefect apply
is still guarded by its own sync lock and generation check (``prefect_lock``, ``serial``).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import time
from collections.abc import Callable, Mapping

from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.adapters.prefect.lock import CLAIM_WAIT, LIMITS, SlotHolder, ensure_limit
from controller.adapters.prefect.settings import resolve_server
from controller.adapters.prefect.state import StateStore

SHORTEST_LEASE = 60.0  # seconds: Prefect refuses shorter lease durations


def controller_lock_name(owner: str) -> str:
    return f"deployctl-controller-{hashlib.sha256(owner.encode()).hexdigest()[:24]}"


class PrefectOwnerControl:
    def __init__(
        self,
        client: PrefectClient,
        owner: str,
        lease_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
        patience: float | None = None,
        claim_wait: float = CLAIM_WAIT,
    ) -> None:
        self.client, self.owner = client, owner
        self.lease_seconds = max(SHORTEST_LEASE, lease_seconds)
        self.name = controller_lock_name(owner)
        self.lease_id: str | None = None
        self._store = StateStore(client)
        self._holder = SlotHolder(client, "lease", owner, clock, patience, claim_wait)
        self._limit_checked = False

    def close(self) -> None:
        self.client.close()

    def acquire(self) -> bool:
        """Renew our lease, or take the slot if it is free; True when we hold it."""
        if self.lease_id is not None:
            try:
                self.client.write(
                    "POST", f"{LIMITS}/leases/{self.lease_id}/renew", {"lease_duration": self.lease_seconds}
                )
                return True
            except PrefectApiError as exc:
                if exc.status not in (404, 410):
                    raise
                self.lease_id = None  # expired and repossessed: someone else may hold it now
        if not self._limit_checked:
            ensure_limit(self.client, self.name)
            self._limit_checked = True
        taken = self._take()
        if taken is None and self._holder.reset_if_orphaned(self.name, time.sleep):
            taken = self._take()
        return bool(taken)

    def _take(self) -> bool | None:
        """Take the slot with a lease: True if granted, None if another holds it."""
        try:
            lease = self.client.write(
                "POST",
                f"{LIMITS}/increment-with-lease",
                {
                    "names": [self.name],
                    "slots": 1,
                    "mode": "concurrency",
                    "lease_duration": self.lease_seconds,
                },
            )
        except PrefectApiError as exc:
            if exc.status == 423:  # the slot is taken: another controller is active
                return None
            raise
        granted = [limit for limit in lease.get("limits") or [] if limit.get("name") == self.name]
        if not granted:  # the limit was deleted or deactivated: that is no lease
            self._limit_checked = False
            self.client.write("POST", f"{LIMITS}/decrement-with-lease", {"lease_id": lease["lease_id"]})
            return False
        self._holder.hold(str(lease["lease_id"]), self.lease_seconds)
        self.lease_id = str(lease["lease_id"])
        return True

    def release(self) -> None:
        """Give the slot back at a clean shutdown, so a standby takes over at its next try."""
        lease, self.lease_id = self.lease_id, None
        if lease is not None:
            with contextlib.suppress(PrefectApiError):  # already repossessed
                self.client.write("POST", f"{LIMITS}/decrement-with-lease", {"lease_id": lease})

    def suspended(self) -> bool:
        return bool(self._store.read_control("suspended", self.owner))

    def refresh_requests(self) -> int:
        """Changes whenever a refresh is requested: a random stamp, written blind, so requests
        from several standbys never need a read-modify-write."""
        return int(self._store.read_control("refresh", self.owner) or 0)

    def request_refresh(self) -> None:
        self._store.write_control("refresh", self.owner, secrets.randbits(48) + 1)

    def set_suspended(self, suspended: bool) -> None:
        self._store.write_control("suspended", self.owner, suspended)


def open_prefect_control(
    url: str, env: Mapping[str, str], owner: str, lease_seconds: float
) -> PrefectOwnerControl:
    server = resolve_server(url, env)
    return PrefectOwnerControl(
        PrefectClient(server.api_url, server.api_key, server.auth_string), owner, lease_seconds
    )


def set_suspended(url: str, env: Mapping[str, str], owner: str, suspended: bool) -> None:
    """``deployctl suspend|resume OWNER`` against a Prefect server."""
    control = open_prefect_control(url, env, owner, SHORTEST_LEASE)
    try:
        control.set_suspended(suspended)
    finally:
        control.close()
