"""Receivers as values: where to post, the body and headers of one notice, and their secrets.

``resolve_receivers`` reads each receiver's URL, HMAC key or token from the environment or a
file as the settings name them (a forge's from what its CI sets when they name none); a missing
one is a ``ConfigError`` naming the receiver and the field, never the value. ``request_for``
renders a notice the way its receiver type wants it: the JSON notice with ``X-Signature:
sha256=<hex HMAC-SHA256 of the body>`` (Flux's generic-hmac provider), a chat message (Slack,
Google Chat, Microsoft Teams: ``controller.adapters.notify.chats``), or a commit status
(``controller.adapters.notify.forges``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from controller.adapters.notify.chats import CHATS
from controller.adapters.notify.forges import FORGES, commit_status
from controller.core.notices import Notice
from controller.core.redaction import short_secret
from controller.errors import ConfigError
from controller.loading.models.notifications import NotificationSettings, ReceiverSettings

SIGNATURE_HEADER = "X-Signature"
Post = tuple[str, bytes, dict[str, str]]
"""One request: URL, body, headers."""


@dataclass(frozen=True)
class Receiver:
    name: str
    kind: str  # "webhook", a chat ("slack", "googlechat", "msteams"), or a forge ("github", "gitlab")
    url: str = field(repr=False)  # a forge's: its API base URL
    secret: bytes | None = field(default=None, repr=False)  # HMAC key; a forge's: its token
    events: frozenset[str] = frozenset()
    timeout: float = 5.0
    repository: str = ""  # a forge's: owner/name (GitHub) or the project's id or path (GitLab)
    link: str = ""  # a forge's: the status page a commit status links to

    def wants(self, notice: Notice) -> bool:
        return notice.event.value in self.events


def request_for(receiver: Receiver, notice: Notice, timestamp: str) -> Post | None:
    """The request that carries ``notice`` to ``receiver``; None when it has nothing to say
    (a commit status of a pass that read no commit)."""
    if receiver.kind in FORGES:
        return commit_status(receiver.kind, receiver.url, receiver.repository, receiver.secret or b"",
                             receiver.link, notice)  # fmt: skip
    if receiver.kind in CHATS:
        document = CHATS[receiver.kind](notice)
    else:
        document = {**notice.document(), "timestamp": timestamp}
    body = json.dumps(document, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "deployctl"}
    if receiver.secret is not None:
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
    return receiver.url, body, headers


def resolve_receivers(settings: NotificationSettings, env: Mapping[str, str], origin: str) -> list[Receiver]:
    """Every receiver with its URL and secret read; ``origin`` (the settings file) for messages."""
    return [_resolve(r, i, env, origin) for i, r in enumerate(settings.receivers)]


def _resolve(receiver: ReceiverSettings, index: int, env: Mapping[str, str], origin: str) -> Receiver:
    where = f"{origin}: receivers[{index}] ({receiver.name})"
    if receiver.type in FORGES:
        return _resolve_forge(receiver, where, env)
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


def _resolve_forge(receiver: ReceiverSettings, where: str, env: Mapping[str, str]) -> Receiver:
    defaults = FORGES[receiver.type]
    url = (receiver.url or env.get(defaults.api_env) or defaults.api_url).rstrip("/")
    repository = receiver.repository or env.get(defaults.repository_env, "")
    if not repository:
        raise ConfigError(f"{where}: no repository: set repository: or {defaults.repository_env}")
    token_env = receiver.secret_env
    if not (token_env or receiver.secret_file):
        token_env = _first_set(defaults.token_envs, env)
    if not (token_env or receiver.secret_file):
        raise ConfigError(f"{where}: no token: set secret_env: or {' or '.join(defaults.token_envs)}")
    token = _read(where, "secret", token_env, receiver.secret_file, env)
    return Receiver(
        receiver.name, receiver.type, url, token.encode(), frozenset(receiver.events),
        receiver.timeout_seconds, repository, receiver.status_page or "",
    )  # fmt: skip


def _first_set(names: tuple[str, ...], env: Mapping[str, str]) -> str | None:
    return next((n for n in names if env.get(n)), None)


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
