"""The controller's one HTTP port: health, readiness, metrics, status, webhooks and events.

Stdlib ``ThreadingHTTPServer``; each connection has a socket timeout, so a slow client is
dropped instead of holding a thread, and a body over 1 MiB is refused before it is read.
Handlers only read from the controller through ``ControllerView`` and, for webhooks, ask it
for a refresh. Started by ``controller.runtime.controlling.service``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol

from controller.runtime.controlling.webhooks import MAX_BODY, PROVIDERS, Verdict
from controller.runtime.served import ServedHTTP

log = logging.getLogger("deployctl.http")
CLIENT_TIMEOUT = 10.0


class ControllerView(Protocol):
    def healthy(self) -> tuple[bool, str]: ...

    def readiness(self) -> tuple[bool, str]: ...

    def status_document(self) -> dict[str, Any]: ...

    def metrics_text(self) -> bytes: ...

    def webhook(self, provider: str, headers: dict[str, str], body: bytes) -> Verdict: ...

    def webhook_refused(self, provider: str, result: str) -> None: ...

    def post_events(self, headers: dict[str, str], body: bytes) -> Verdict: ...


class ControllerHTTPServer(ServedHTTP):
    pages: Callable[[BaseHTTPRequestHandler], None] | None = None  # GET of any other path (pages_http)

    def __init__(
        self, address: tuple[str, int], view: ControllerView, timeout: float = CLIENT_TIMEOUT
    ) -> None:
        self.view, self.client_timeout = view, timeout
        super().__init__(address, _Handler, "--listen HOST:PORT (or DEPLOYCTL_LISTEN)")

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: ControllerHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.connection = self.request
        self.connection.settimeout(self.server.client_timeout)  # a slow client is dropped, not waited for
        super().setup()

    def do_GET(self) -> None:
        view = self.server.view
        if self.path == "/healthz":
            self._probe(*view.healthy())
        elif self.path == "/readyz":
            self._probe(*view.readiness())
        elif self.path == "/metrics":
            self._send(200, view.metrics_text(), "text/plain; version=0.0.4; charset=utf-8")
        elif self.path == "/api/status":
            self._json(200, view.status_document())
        elif self.server.pages is not None:
            self.server.pages(self)
        else:
            self._json(404, {"error": f"no such page: {self.path}"})

    def do_POST(self) -> None:
        if self.path == "/api/events":
            self._post_events()
            return
        provider = self.path.removeprefix("/hooks/")
        if not self.path.startswith("/hooks/") or provider not in PROVIDERS:
            self._json(
                404,
                {"error": f"no such hook: {self.path}; use /hooks/github, /hooks/gitlab or /hooks/generic"},
            )
            return
        body = self._read_body(provider)
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        verdict = self.server.view.webhook(provider, headers, body)
        self._json(verdict.status, {"result": verdict.result, "message": verdict.message})

    def _post_events(self) -> None:
        body = self._read_body("events")
        if body is None:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        verdict = self.server.view.post_events(headers, body)
        self._json(verdict.status, {"result": verdict.result, "message": verdict.message})

    def _read_body(self, provider: str) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._refuse(provider, 411, "bad_request", "send a Content-Length")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._refuse(provider, 400, "bad_request", "bad Content-Length")
        if length > MAX_BODY or length < 0:
            return self._refuse(provider, 413, "too_large", f"the body is over {MAX_BODY} bytes")
        try:
            return self.rfile.read(length)
        except TimeoutError:
            self.close_connection = True
            self.server.view.webhook_refused(provider, "timeout")
            return None

    def _refuse(self, provider: str, status: int, result: str, message: str) -> bytes | None:
        self.server.view.webhook_refused(provider, result)
        self.close_connection = True
        self._json(status, {"result": result, "message": message})
        return None

    def _probe(self, ok: bool, message: str) -> None:
        self._send(200 if ok else 503, (message + "\n").encode(), "text/plain; charset=utf-8")

    def _json(self, status: int, document: object) -> None:
        self._send(status, json.dumps(document, indent=2).encode(), "application/json")

    def _send(self, status: int, payload: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
