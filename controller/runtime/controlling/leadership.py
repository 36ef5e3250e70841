"""The lease keeper: a thread that takes or renews this controller's writer lease.

It tries every third of the lease period, so a standby takes over within one and a third
periods of the active controller's last renewal, and an active one renews long before expiry
even while a long pass runs. When the registry cannot be reached it stops counting itself
active (safe side: a writer that cannot renew must not write). It also relays refresh requests
that webhooks delivered to a standby. Started by ``controller.runtime.controlling.service``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from controller.errors import DeployctlError
from controller.runtime.controlling.ports import OwnerControl

log = logging.getLogger("deployctl.controller")


class LeaseKeeper:
    def __init__(
        self,
        control: OwnerControl,
        lease_seconds: float,
        on_change: Callable[[], None],
        on_refresh: Callable[[], None],
    ) -> None:
        self.control, self.period = control, lease_seconds / 3
        self.on_change, self.on_refresh = on_change, on_refresh
        self._active = False
        self._refreshes: int | None = None

    def is_active(self) -> bool:
        return self._active

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(self.period):
            self.renew()

    def renew(self) -> None:
        try:
            active = self.control.acquire()
            refreshes = self.control.refresh_requests()
        except DeployctlError as exc:
            log.warning("cannot renew the writer lease, standing by: %s", exc)
            active, refreshes = False, self._refreshes or 0
        if active != self._active:
            log.info("this controller is now %s", "the active writer" if active else "standby")
            self._active = active
            self.on_change()
        if refreshes != self._refreshes and self._refreshes is not None and active:
            self.on_refresh()
        self._refreshes = refreshes

    def release(self) -> None:
        if self._active:
            self._active = False
            try:
                self.control.release()
            except DeployctlError as exc:
                log.warning("cannot release the writer lease (it expires by itself): %s", exc)
