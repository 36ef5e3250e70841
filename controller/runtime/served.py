"""What the controller's HTTP server and the status pages' server share: a threaded stdlib
server whose bind failure is one ``ConfigError`` naming the address, its URL, and a serving
thread."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from controller.errors import ConfigError


class ServedHTTP(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], hint: str) -> None:
        """``hint``: how the user picks another address (``--listen HOST:PORT`` …)."""
        try:
            super().__init__(address, handler)
        except OSError as exc:  # a taken port or an unknown host: the server cannot start
            host, port = address
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another {hint}"
            ) from exc

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        thread.start()
        return thread
