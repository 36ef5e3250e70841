"""A fake GitHub and GitLab comments API on loopback, for ``plan --comment``: issue comments
(list in pages, create, ``PATCH``) and merge-request notes (list in pages, create, ``PUT``), kept
in memory, every request recorded."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GITHUB, GITLAB = r"/repos/[^/]+/[^/]+/issues", r"/api/v4/projects/[^/]+/merge_requests/\d+/notes"
LIST = re.compile(rf"^(?:{GITHUB}/\d+/comments|{GITLAB})$")
ITEM = re.compile(rf"^(?:{GITHUB}/comments|{GITLAB})/(\d+)$")


@dataclass
class ForgeAPI:
    comments: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)  # each request's path and query, as sent
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, target: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        path, query = urlsplit(target).path, parse_qs(urlsplit(target).query)
        with self.lock:
            self.requests.append((method, path, headers, body))
            self.targets.append(target)
            if method == "GET" and LIST.match(path):
                size, page = int(query["per_page"][0]), int(query["page"][0])
                return 200, self.comments[(page - 1) * size : page * size]
            if method == "POST" and LIST.match(path):
                self.comments.append({"id": 1000 + len(self.comments), "body": body["body"]})
                return 201, self.comments[-1]
            match = ITEM.match(path)
            if method in ("PATCH", "PUT") and match:
                (item,) = [c for c in self.comments if c["id"] == int(match.group(1))]
                item["body"] = body["body"]
                return 200, item
        return 404, {"message": "Not Found"}

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p, _, _ in self.requests if m != "GET"]


@contextmanager
def serving_forge(api: ForgeAPI) -> Iterator[ForgeAPI]:
    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.loads(raw or b"null")
            status, answer = api.handle(self.command, self.path, dict(self.headers), body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_PUT = _any  # noqa: N815 (http.server's names)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
