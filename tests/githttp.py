"""A real git server on loopback for tests: ``git http-backend`` behind basic authentication.

``GitHttpServer(root)`` serves the bare repositories under ``root`` at ``server.url(name)``
while the context is open; ``credentials`` can be changed at any time (None: no password
needed). ``StallingServer`` accepts connections and never answers, for timeout tests.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # Content-Length on every answer: connections are reused cleanly

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return

    def _serve(self) -> None:
        header = self.headers.get("Authorization", "")
        self.server.seen_authorizations.append(header)
        if self.server.credentials is not None:
            expected = base64.b64encode(":".join(self.server.credentials).encode()).decode()
            if header != f"Basic {expected}":
                self._body()  # an unread body would reset the connection
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self._run_backend()

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        self.rfile.readline()
        return b"".join(chunks)

    def _run_backend(self) -> None:
        path, _, query = self.path.partition("?")
        body = self._body()
        env = {
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "tester",
            "PATH": "/usr/local/bin:/usr/bin:/bin",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        done = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    root: Path
    credentials: tuple[str, str] | None
    seen_authorizations: list[str]


class GitHttpServer:
    def __init__(self, root: Path, credentials: tuple[str, str] | None = None) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        # A listener that never blocks: should anything else take a connection between the
        # serving loop's poll and its accept, the loop goes round again instead of waiting in
        # accept() for ever, where shutdown() could never reach it.
        self._server.socket.setblocking(False)
        self._server.root, self._server.credentials = root, credentials
        self._server.seen_authorizations = []
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def credentials(self) -> tuple[str, str] | None:
        return self._server.credentials

    @credentials.setter
    def credentials(self, value: tuple[str, str] | None) -> None:
        self._server.credentials = value

    @property
    def seen_authorizations(self) -> list[str]:
        return self._server.seen_authorizations

    def url(self, name: str, userinfo: str = "") -> str:
        at = f"{userinfo}@" if userinfo else ""
        return f"http://{at}127.0.0.1:{self._server.server_address[1]}/{name}"

    def __enter__(self) -> GitHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


class StallingServer:
    """Accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/stalled.git"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def __enter__(self) -> StallingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        # shutdown before close: close alone leaves the accepting thread blocked in accept() on
        # a descriptor number the next test's listener may be given, and that thread would then
        # take (and drop) the next test's connections
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        self._thread.join(timeout=10)
        for connection in self._held:
            connection.close()
