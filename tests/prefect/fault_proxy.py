"""A small HTTP proxy on loopback that injects faults in front of the real Prefect server.

Each request is read whole (head and ``Content-Length`` body), then ``decide(n, request_line,
body)`` says what happens to the n-th request: ``None`` forwards it over a fresh upstream
connection, ``"503"`` answers 503 with ``Retry-After: 0``, ``"422"`` a 422 (a refusal, never
retried) and ``"401"`` answers 401 (the server never sees them), ``"reset"`` resets the
connection before forwarding. ``heads`` keeps every request's head, ``answered`` each forwarded
request's line with the status the server gave it. Threads, no sleeps: ``close`` shuts the
listening socket down.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable

Decide = Callable[[int, str, bytes], str | None]
ANSWERS = {
    "503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\n"
    b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
    "422": b"HTTP/1.1 422 Unprocessable Entity\r\nContent-Type: application/json\r\n"
    b'Content-Length: 31\r\n\r\n{"detail":"Refused by a proxy"}',
    "401": b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
    b'Content-Length: 31\r\n\r\n{"detail":"Invalid API key..."}',
}


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], decide: Decide) -> None:
        self.upstream = upstream
        self.decide = decide
        self.faults: list[tuple[str, str]] = []
        self.heads: list[str] = []
        self.answered: list[tuple[str, int]] = []  # (request line, the server's status)
        self._count = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        # shutdown first: close alone leaves the accept() of the serving thread blocked on a file
        # descriptor number that the next proxy's listener may reuse, and it would serve that
        # proxy's connections with this proxy's faults
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            reader = connection.makefile("rb")
            while True:
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self._count += 1
                    self.heads.append(request.partition(b"\r\n\r\n")[0].decode())
                    line, body = request.split(b"\r\n", 1)[0].decode(), request.partition(b"\r\n\r\n")[2]
                    fault = self.decide(self._count, line, body)
                    if fault:
                        self.faults.append((fault, request.split(b"\r\n", 1)[0].decode()))
                if fault == "reset":
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if fault in ANSWERS:
                    connection.sendall(ANSWERS[fault])
                    continue
                # One request per forwarded connection: the answer says so, and the proxy closes.
                answer = self._forward(request)
                with self._lock:
                    self.answered.append((request.split(b"\r\n", 1)[0].decode(), _status(answer)))
                connection.sendall(answer)
                return

    def _forward(self, request: bytes) -> bytes:
        head, _, body = request.partition(b"\r\n\r\n")
        lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")]
        with socket.create_connection(self.upstream) as upstream:
            upstream.sendall(b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        answer = b"".join(chunks)
        head, _, body = answer.partition(b"\r\n\r\n")
        kept = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"connection:")]
        return b"\r\n".join([*kept, b"Connection: close"]) + b"\r\n\r\n" + body


def _status(answer: bytes) -> int:
    """The status code of an HTTP answer (0 when the server closed without one)."""
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _read_request(reader: socket.SocketIO | object) -> bytes | None:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        line = reader.readline()  # type: ignore[attr-defined]
        if not line:
            return None
        head += line
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = reader.read(length) if length else b""  # type: ignore[attr-defined]
    return head + body
