"""Receivers as values: where to post, the body and headers of one notice, and their secrets.

``resolve_receivers`` reads each receiver's URL and HMAC key from the environment or a file as
the settings name them; a missing one is a ``ConfigError`` naming the receiver and the field,
never the value. ``request_for`` renders a notice the way its receiver type wants it: the JSON
notice with ``X-Signature: sha256=<hex HMAC-SHA256 of the body>`` (Flux's generic-hmac
provider), or a Slack incoming-webhook ``{"text": …}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.core.notices import Notice
from controller.core.redaction import short_secret
from controller.errors import ConfigError
from controller.loading.models.notifications import NotificationSettings, ReceiverSettings

SIGNATURE_HEADER = "X-Signature"


@dataclass(frozen=True)
class Receiver:
    name: str
    kind: str  # "webhook" or "slack"
    url: str = field(repr=False)
    secret: bytes | None = field(default=None, repr=False)
    events: frozenset[str] = frozenset()
    timeout: float = 5.0

    def wants(self, notice: Notice) -> bool:
        return notice.event.value in self.events


def request_for(receiver: Receiver, notice: Notice, timestamp: str) -> tuple[bytes, dict[str, str]]:
    """The body and headers that carry ``notice`` to ``receiver``."""
    if receiver.kind == "slack":
        document: dict[str, object] = {"text": notice.text()}
    else:
        document = {**notice.document(), "timestamp": timestamp}
    body = json.dumps(document, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "deployctl"}
    if receiver.secret is not None:
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
    return body, headers


def resolve_receivers(settings: NotificationSettings, env: Mapping[str, str], origin: str) -> list[Receiver]:
    """Every receiver with its URL and secret read; ``origin`` (the settings file) for messages."""
    return [_resolve(r, i, env, origin) for i, r in enumerate(settings.receivers)]


def _resolve(receiver: ReceiverSettings, index: int, env: Mapping[str, str], origin: str) -> Receiver:
    where = f"{origin}: receivers[{index}] ({receiver.name})"
    url = receiver.url or _read(where, "url", receiver.url_env, receiver.url_file, env)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: the URL is not http:// or https://; give the receiver's full URL")
    secret = None
    if receiver.secret_env or receiver.secret_file:
        key = _read(where, "secret", receiver.secret_env, receiver.secret_file, env)
        problem = short_secret(receiver.secret_env or receiver.secret_file or "", key)
        if problem:
            raise ConfigError(f"{where}: {problem}")
        secret = key.encode()
    return Receiver(
        receiver.name, receiver.type, url, secret, frozenset(receiver.events), receiver.timeout_seconds
    )


def _read(where: str, what: str, variable: str | None, file: str | None, env: Mapping[str, str]) -> str:
    if variable:
        value = env.get(variable, "").strip()
        if not value:
            raise ConfigError(f"{where}: {what}_env names {variable}, which is not set; export it")
        return value
    assert file is not None
    try:
        value = Path(file).read_text().strip()
    except OSError as exc:
        problem = f"{where}: {what}_file {file} cannot be read ({exc.strerror}); fix the path"
        raise ConfigError(problem) from None
    if not value:
        raise ConfigError(f"{where}: {what}_file {file} is empty")
    return value
