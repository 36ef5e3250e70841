"""The one seam to a Prefect server's REST API: auth, retries, paging, error conversion.

Owned by ``PrefectRegistry``; the only importer of httpx in the Prefect backend. Retries what
Prefect's own client retries (408, 429, 502, 503, timeouts, resets): 5 tries, exponential
backoff with jitter, ``Retry-After`` honoured. Counts writes, so tests and benchmarks can
assert that a no-op sync writes nothing, and the items it listed, to see what a pass reads.
Every message has the API key redacted.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from controller.core import redaction
from controller.errors import ConfigError, DeployctlError, RegistryUnavailable, StalledError

RETRY_STATUS = frozenset({408, 429, 502, 503})
RETRY_EXCEPTIONS = (
    httpx.TimeoutException,
    httpx.ConnectError,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# httpx logs every request at INFO; deployctl's output is its own one-line messages.
logging.getLogger("httpx").setLevel(logging.WARNING)

TRIES = 5
PAGE = 200
MAX_BACKOFF = 30.0
BACKOFF = (0.15, 1.0, 4.0, 12.0)
"""Seconds before the 2nd to 5th tries. The first wait is short because the usual cause is a
SQLite-backed server's lock held for a few milliseconds by its own services; the later ones
grow fast, so that five tries span about 17 s of a real outage."""


class PrefectApiError(StalledError):
    """A request the server refused (4xx other than auth); ``status`` and ``detail`` say why."""

    def __init__(self, message: str, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass
class PrefectClient:
    api_url: str
    api_key: str | None = None
    auth_string: str | None = None
    timeout: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    writes: int = 0
    requests: int = 0
    write_log: list[tuple[str, str]] = field(default_factory=list)
    listed: dict[str, int] = field(default_factory=dict)  # path -> items ``paged`` returned
    _http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.api_url = self.api_url.rstrip("/")
        headers = {"Accept": "application/json"}
        if self.auth_string:
            token = base64.b64encode(self.auth_string.encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._http = httpx.Client(base_url=self.api_url, headers=headers, timeout=self.timeout)

    def close(self) -> None:
        self._http.close()

    def redact(self, text: str) -> str:
        return redaction.redact(text, (self.api_key, self.auth_string))

    # -- requests --------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        return self._send("GET", path, params=params or None)

    def read(self, path: str, body: dict[str, Any]) -> Any:
        """A POST that only reads (``/filter``, ``/count``): not a write."""
        return self._send("POST", path, json=body)

    def write(self, method: str, path: str, body: Any = None) -> Any:
        self.writes += 1
        self.write_log.append((method, path))
        return self._send(method, path, json=body)

    def paged(self, path: str, body: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a ``/filter`` endpoint, at most ``PAGE`` per request."""
        offset = 0
        while True:
            page = self.read(path, {**(body or {}), "limit": PAGE, "offset": offset})
            self.listed[path] = self.listed.get(path, 0) + len(page)
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._with_retries(method, path, **kwargs)
        if response.status_code >= 400:
            raise self._error(method, path, response)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def _with_retries(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(1, TRIES + 1):
            self.requests += 1
            try:
                response = self._http.request(method, path, **kwargs)
            except RETRY_EXCEPTIONS as exc:
                if attempt == TRIES:
                    raise RegistryUnavailable(
                        self.redact(f"Prefect server {self.api_url} unreachable after {TRIES} tries: {exc!r}")
                    ) from exc
                self.sleep(backoff(attempt, None))
                continue
            except httpx.HTTPError as exc:
                raise RegistryUnavailable(self.redact(f"Prefect server {self.api_url}: {exc!r}")) from exc
            if response.status_code not in RETRY_STATUS or attempt == TRIES:
                return response
            self.sleep(backoff(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")

    def _error(self, method: str, path: str, response: httpx.Response) -> DeployctlError:
        detail = self.redact(_detail(response))
        where = f"{method} {path}"
        status = response.status_code
        if status in (401, 403):
            return ConfigError(
                f"the Prefect server {self.api_url} refused the credentials ({status}): set "
                "PREFECT_API_KEY (Cloud) or PREFECT_API_AUTH_STRING (self-hosted) to valid ones"
            )
        if status in RETRY_STATUS or status >= 500:
            return RegistryUnavailable(
                f"the Prefect server {self.api_url} answered {status} to {where} (after {TRIES} tries): "
                f"{detail}; the next sync retries"
            )
        header = response.headers.get("Retry-After")
        return PrefectApiError(
            f"the Prefect server refused {where} ({status}): {detail}",
            status,
            detail,
            _retry_after_seconds(header) if header else None,
        )


def backoff(attempt: int, retry_after: str | None) -> float:
    """Seconds before try ``attempt + 1``: the server's ``Retry-After`` (at least), else ``BACKOFF``
    with 20 % jitter either way."""
    requested = _retry_after_seconds(retry_after) if retry_after else None
    if requested is not None:
        return min(requested * (1 + 0.2 * random.random()), MAX_BACKOFF)
    base = BACKOFF[min(attempt, len(BACKOFF)) - 1]
    return base * (0.8 + 0.4 * random.random())


def _retry_after_seconds(value: str) -> float | None:
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(float(moment.timestamp()) - time.time(), 0.0)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    text = detail if isinstance(detail, str) else str(detail)
    return " ".join(text.split())[:300]
