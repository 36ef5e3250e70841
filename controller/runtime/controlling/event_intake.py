"""``POST /api/events`` on the controller's port: a token, then one event or a list, stored whole.

The token is ``DEPLOYCTL_EVENTS_TOKEN`` (or the file ``DEPLOYCTL_EVENTS_TOKEN_FILE`` names),
sent as ``Authorization: Bearer TOKEN`` or ``X-Deployctl-Token``, compared in constant time;
without one configured the route is closed (401). A body that is not a valid event (or list of
them) is a 400 and nothing of it is stored; the 1 MiB limit (413) is the HTTP server's, as for
webhooks. Built by ``app.App.controller_parts``; called by ``Controller.post_events``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from controller.core.events import Event, EventError
from controller.errors import DeployctlError
from controller.runtime.controlling.webhooks import Verdict, load_secret

TOKEN = "DEPLOYCTL_EVENTS_TOKEN"


def load_events_token(environ: Mapping[str, str]) -> str | None:
    return load_secret(environ, TOKEN)


@dataclass(frozen=True)
class EventIntake:
    token: str | None
    ingest: Callable[[bytes], list[Event]]  # stores all of a body's events, or raises EventError

    def receive(self, headers: Mapping[str, str], body: bytes) -> Verdict:
        if not self.token:
            return Verdict(401, "unauthorized", f"POST /api/events is closed: set {TOKEN} on the controller")
        if not _authentic(headers, self.token):
            return Verdict(401, "unauthorized", "bad or missing token (Authorization: Bearer TOKEN)")
        try:
            events = self.ingest(body)
        except EventError as exc:
            return Verdict(400, "bad_request", f"nothing stored: {exc}")
        except DeployctlError as exc:
            return Verdict(503, "unavailable", f"nothing stored: {exc}")
        return Verdict(202, "accepted", f"{len(events)} event(s) recorded")


def _authentic(headers: Mapping[str, str], token: str) -> bool:
    bearer = headers.get("authorization", "")
    if bearer:
        return hmac.compare_digest(bearer.encode(), f"Bearer {token}".encode())
    return hmac.compare_digest(headers.get("x-deployctl-token", "").encode(), token.encode())
