"""The status pages over HTTP: routes, the headers that make them safe, the token, the server.

Read-only by construction: GET and HEAD are the only methods (anything else is 405), every
answer carries a Content-Security-Policy without scripts or frames, ``nosniff`` and
``X-Frame-Options: DENY``. Bound to a loopback address they are open; bound to any other,
they answer only a client holding the token (``DEPLOYCTL_UI_TOKEN``: once as ``?token=``,
which sets a cookie, or as ``Authorization: Bearer``), and without a token set, nobody.
``Pages.serve`` answers on any ``BaseHTTPRequestHandler``: ``deployctl ui``'s own
``PagesHTTPServer`` and the controller's port (``/``) both use it.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from controller.errors import Ambiguous, ConfigError, DeployctlError, NotFound
from controller.runtime.served import ServedHTTP
from controller.services.pages import Site

log = logging.getLogger("deployctl.pages")
TOKEN_COOKIE = "deployctl_ui_token"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
HTML = "text/html; charset=utf-8"


class Renderer(Protocol):
    def page(self, name: str, model: object, title: str) -> str: ...

    def stylesheet(self) -> bytes: ...


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = HTML
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Pages:
    site: Site
    renderer: Renderer
    token: str | None = None

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer ``handler``'s request, whatever its method, and write the answer."""
        address = handler.server.server_address
        host = str(address[0]) if isinstance(address, tuple) else ""
        answer = self.answer(handler.command, handler.path, dict(handler.headers.items()), is_loopback(host))
        if answer.status == 405:  # its body, if any, is never read: the connection ends here
            handler.close_connection = True
        handler.send_response(answer.status)
        for name, value in {**SECURITY_HEADERS, **answer.headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        if handler.close_connection:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(answer.body)

    def answer(self, method: str, target: str, headers: dict[str, str], loopback: bool) -> Answer:
        if method not in ("GET", "HEAD"):
            return self._error(
                405, "Method not allowed", "These pages are read-only: GET only.", Allow="GET, HEAD"
            )
        url = urlsplit(target)
        query = parse_qs(url.query)
        if not loopback:
            refused = self._check_token(url.path, query, headers)
            if refused is not None:
                return refused
        try:
            return self._route(unquote(url.path), query)
        except (NotFound, Ambiguous) as exc:
            return self._error(404, "Not found", str(exc))
        except DeployctlError as exc:  # the registry cannot be read now: say so, as a page
            return self._error(503, "Registry unavailable", str(exc))

    def _route(self, path: str, query: dict[str, list[str]]) -> Answer:
        site = self.site
        if path == "/static/style.css":
            return Answer(200, self.renderer.stylesheet(), "text/css; charset=utf-8")
        if path == "/":
            return self._page("overview", site.overview(), "Overview")
        if path == "/deployments":
            text, page = query.get("q", [""])[0], query.get("page", ["1"])[0]
            number = int(page) if page.isdigit() else 1
            return self._page("deployments", site.deployments(text.strip(), number), "Deployments")
        if path == "/passes":
            owner, page = query.get("owner", [""])[0].strip(), query.get("page", ["1"])[0]
            number = int(page) if page.isdigit() else 1
            return self._page(
                "passes", site.passes(owner, number), f"Passes of {owner}" if owner else "Passes"
            )
        if path.startswith("/deployments/"):
            identity = path.removeprefix("/deployments/")
            return self._page("deployment", site.deployment(identity), identity)
        if path.startswith("/runs/"):
            run = site.run(path.removeprefix("/runs/"))
            if run is None:
                return self._error(
                    404, "Not found", "This registry's own engine keeps its runs (see its UI)."
                )
            return self._page("run", run, f"Flow run {run.run.name}")
        return self._error(404, "Not found", f"No page {path}: start at /.")

    def _check_token(self, path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Answer | None:
        if not self.token:
            return self._error(
                403,
                "Forbidden",
                "These pages answer a non-loopback address only with DEPLOYCTL_UI_TOKEN set.",
            )
        given = query.get("token", [None])[0]
        if given is not None and _same(given, self.token):
            rest = urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
            cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            return Answer(
                303, b"", HTML, {"Location": path + (f"?{rest}" if rest else ""), "Set-Cookie": cookie}
            )
        if _same(_bearer(headers), self.token) or _same(_cookie(headers), self.token):
            return None
        return self._error(
            401, "Token required", "Open this address with ?token=THE_TOKEN (DEPLOYCTL_UI_TOKEN) once."
        )

    def _page(self, name: str, model: object, title: str) -> Answer:
        return Answer(200, self.renderer.page(name, model, title).encode())

    def _error(self, status: int, title: str, message: str, **headers: str) -> Answer:
        return Answer(status, self.renderer.page("error", message, title).encode(), HTML, headers)


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = next((v for k, v in headers.items() if k.lower() == "authorization"), "").partition(
        " "
    )
    return value.strip() if scheme.lower() == "bearer" else None


def _cookie(headers: dict[str, str]) -> str | None:
    raw = next((v for k, v in headers.items() if k.lower() == "cookie"), "")
    try:
        morsel = SimpleCookie(raw).get(TOKEN_COOKIE)
    except Exception:  # a malformed Cookie header is no token
        return None
    return morsel.value if morsel is not None else None


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class PagesHTTPServer(ServedHTTP):
    def __init__(self, address: tuple[str, int], pages: Pages, timeout: float = 10.0) -> None:
        host, port = address
        if not is_loopback(host) and not pages.token:
            raise ConfigError(
                f"--listen {host}:{port} is not a loopback address: set DEPLOYCTL_UI_TOKEN (8 characters or "
                "more) so that only holders of it see the pages, or listen on 127.0.0.1"
            )
        self.pages, self.client_timeout = pages, timeout
        super().__init__(address, _Handler, "--listen HOST:PORT")


class _Handler(BaseHTTPRequestHandler):
    server: PagesHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.request.settimeout(self.server.client_timeout)  # a slow client is dropped, not waited for
        super().setup()

    def handle_one_request(self) -> None:
        """Every method reaches ``Pages.serve``, which answers 405 to all but GET and HEAD."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():
            return
        self.server.pages.serve(self)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
