"""One writer per owner at a time: a lease on a Prefect global concurrency limit of 1 slot.

Two CI jobs syncing one source at once must not mix their commits. The lease lives on the
server, so it holds across machines; it expires on its own (Prefect's repossessor frees it)
if a sync is killed, so a crash never locks an owner out for longer than ``DURATION``. Used
by ``PrefectRegistry.apply``, which also checks that nothing changed since the plan was read.

Prefect keeps leases in memory but counts slots in its database: a restart of the server
leaves a slot taken by a lease nobody holds. ``SlotHolder`` names each holder's lease in a
control document, so that a waiter can prove the slot orphaned and reset it (the controller's
lease, ``prefect_control``, uses it too).
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.adapters.prefect.state import StateStore
from controller.errors import DeployctlError, RegistryUnavailable

DURATION = 60.0  # seconds (Prefect accepts 60 s to 1 day): a killed sync blocks its owner this long
WAIT = 300.0  # how long a second writer waits for the first before giving up
LIMITS = "/v2/concurrency_limits"
REPOSSESSED_WITHIN = 45.0
"""Three rounds of Prefect's repossessor, which frees an expired lease's slot within 15 s."""
JITTER = 5.0  # seconds: waiters that prove one orphan at once look again at different times
CLAIM_WAIT = 20.0
"""Seconds a waiter's claim must stand before it resets a slot: longer than the client's
retries of one write (about 17 s), so that a claim or a name written by another waiter or a
new holder has landed by then."""


class SlotHolder:
    """The lease that holds a one-slot limit, named in the owner's control document ``kind``.

    A waiter that has seen the slot taken by the same named lease for that lease's duration
    and ``REPOSSESSED_WITHIN`` more (``patience``) asks the server to renew it: a live
    holder's lease is renewed (for its own duration: never shortened), a forgotten one is
    refused, which proves the slot orphaned. The waiter then claims the document and resets
    the slot only if its claim still stands a third of the lease and ``CLAIM_WAIT`` later:
    of several waiters one resets, and a holder whose lease the server forgot has found out
    at its next renewal and stopped. A slot whose holder names no lease (an older deployctl,
    or one that died before naming it) is never taken for an orphan: it is reset by hand.
    """

    def __init__(
        self,
        client: PrefectClient,
        kind: str,
        owner: str,
        clock: Callable[[], float] = time.monotonic,
        patience: float | None = None,
        claim_wait: float = CLAIM_WAIT,
    ) -> None:
        self.client, self.kind, self.owner, self.clock = client, kind, owner, clock
        self.patience, self.claim_wait = patience, claim_wait
        self._store = StateStore(client)
        self._seen: tuple[Any, float] | None = None

    def hold(self, lease_id: str, seconds: float) -> None:
        """Name a lease just taken; if that fails, give the slot back (an unnamed holder could
        later be taken for an orphan) and fail."""
        try:
            self._store.write_control(self.kind, self.owner, {"lease": lease_id, "seconds": seconds})
        except DeployctlError:
            with contextlib.suppress(DeployctlError):
                self.client.write("POST", f"{LIMITS}/decrement-with-lease", {"lease_id": lease_id})
            raise

    def reset_if_orphaned(self, name: str, sleep: Callable[[float], None]) -> bool:
        """Reset the slot of ``name`` if its holder is proven gone; True if it was reset."""
        orphan = self._orphan()
        if orphan is None:
            return False
        sleep(random.uniform(0, JITTER))
        if self._store.read_control(self.kind, self.owner) != orphan:
            return False  # another waiter claimed or took the slot meanwhile
        claim = {"claim": secrets.token_hex(8)}
        self._store.write_control(self.kind, self.owner, claim)
        sleep(_seconds(orphan) / 3 + self.claim_wait)
        if self._store.read_control(self.kind, self.owner) != claim:
            return False
        self.client.write("PATCH", f"{LIMITS}/{name}", {"active_slots": 0})
        self._seen = None
        return True

    def _orphan(self) -> dict[str, Any] | None:
        holder = self._store.read_control(self.kind, self.owner)
        if not isinstance(holder, dict) or not holder.get("lease"):
            return None
        now = self.clock()
        if self._seen is None or self._seen[0] != holder:
            self._seen = (holder, now)
            return None
        seconds = _seconds(holder)
        patience = seconds + REPOSSESSED_WITHIN if self.patience is None else self.patience
        if now - self._seen[1] < patience:
            return None
        self._seen = (holder, now)  # a live holder is asked again only after as long
        try:
            self.client.write("POST", f"{LIMITS}/leases/{holder['lease']}/renew", {"lease_duration": seconds})
            return None
        except PrefectApiError as exc:
            if exc.status not in (404, 410):
                raise
        return holder


def _seconds(holder: dict[str, Any]) -> float:
    """The named lease's duration, as Prefect bounds one (60 s to a day)."""
    seconds = holder.get("seconds")
    return min(max(float(seconds), 60.0), 86400.0) if isinstance(seconds, (int, float)) else DURATION


def lock_name(owner: str) -> str:
    return f"deployctl-sync-{hashlib.sha256(owner.encode()).hexdigest()[:24]}"


class SyncLease:
    def __init__(
        self,
        client: PrefectClient,
        owner: str,
        clock: Callable[[], float] = time.monotonic,
        patience: float | None = None,
        claim_wait: float = CLAIM_WAIT,
    ) -> None:
        self.client = client
        self.owner = owner
        self.name = lock_name(owner)
        self.clock = clock
        self.lease_id: str | None = None
        self._renewed = 0.0
        self._holder = SlotHolder(client, "sync-lease", owner, clock, patience, claim_wait)

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
                        f"{WAIT:.0f} s; nothing was applied; the next sync retries. If no other sync "
                        "runs (a restart of the Prefect server can leave the lock taken), free it: "
                        f"prefect global-concurrency-limit update {self.name} --active-slots 0"
                    ) from exc
                try:
                    reset = self._holder.reset_if_orphaned(self.name, self.client.sleep)
                except DeployctlError:  # an outage while looking: wait as for a live holder
                    reset = False
                if not reset:
                    self.client.sleep(min(max(exc.retry_after or 1.0, 0.2), 5.0))
                continue
            self._holder.hold(str(lease["lease_id"]), DURATION)
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
        if limit.get("active") is False:  # an inactive limit grants every caller
            client.write("PATCH", f"{LIMITS}/{name}", {"active": True})
    except PrefectApiError as exc:
        if exc.status != 404:
            raise
        try:
            client.write("POST", f"{LIMITS}/", {"name": name, "limit": 1})
        except PrefectApiError as created:
            if created.status != 409:  # made by a concurrent first caller
                raise
