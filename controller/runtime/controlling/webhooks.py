"""Webhook checks: is this request authentic, and should it trigger a refresh? Pure, no I/O.

A webhook only ever triggers a refresh: the body is read after the signature checks out, and
then only for its ``ref``, to acknowledge and ignore pushes to other branches. Secrets are
compared in constant time. GitHub signs the body (``X-Hub-Signature-256``, HMAC-SHA256),
GitLab sends a token (``X-Gitlab-Token``); the generic hook takes a signature, a bearer token
or ``X-Deployctl-Token``.
Called by ``controller.runtime.http_server`` with lower-cased header names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ConfigError

MAX_BODY = 1024 * 1024
PROVIDERS = ("github", "gitlab", "generic")


@dataclass(frozen=True)
class Verdict:
    status: int
    result: str  # the metric label: accepted, ignored, ping, unauthorized, bad_request, too_large
    message: str
    refresh: bool = False


def load_secret(environ: Mapping[str, str], name: str = "DEPLOYCTL_WEBHOOK_SECRET") -> str | None:
    """``DEPLOYCTL_WEBHOOK_SECRET`` (or ``name``), else the file named by ``<name>_FILE``."""
    if environ.get(name):
        return environ[name]
    path = environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        return Path(path).read_text().strip() or None
    except OSError as exc:
        raise ConfigError(f"{name}_FILE {path}: {exc.strerror}: check the path") from exc


def judge(
    provider: str, headers: Mapping[str, str], body: bytes, secret: str | None, watched_ref: str | None
) -> Verdict:
    if not secret:
        return Verdict(401, "unauthorized", "webhooks are disabled: set DEPLOYCTL_WEBHOOK_SECRET")
    if not _authentic(provider, headers, body, secret):
        return Verdict(401, "unauthorized", "bad or missing signature")
    event = headers.get("x-github-event") or headers.get("x-gitlab-event") or "push"
    if event == "ping":
        return Verdict(200, "ping", "pong")
    if provider != "generic" and event not in ("push", "Push Hook", "Tag Push Hook"):
        return Verdict(202, "ignored", f"event {event!r} does not trigger a refresh")
    try:
        ref = _pushed_ref(body)
    except ValueError as exc:
        return Verdict(400, "bad_request", f"the body is {exc}")
    if ref is not None and watched_ref is not None and not _same_ref(ref, watched_ref):
        return Verdict(202, "ignored", f"push to {ref} ignored: watching {watched_ref}")
    return Verdict(202, "accepted", "refresh scheduled", refresh=True)


def _authentic(provider: str, headers: Mapping[str, str], body: bytes, secret: str) -> bool:
    signature = headers.get("x-hub-signature-256", "")
    token = headers.get("x-gitlab-token" if provider == "gitlab" else "x-deployctl-token", "")
    bearer = headers.get("authorization", "")
    if provider == "github" or (provider == "generic" and signature):
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.encode(), expected.encode())
    if provider == "generic" and bearer:
        return hmac.compare_digest(bearer.encode(), f"Bearer {secret}".encode())
    return hmac.compare_digest(token.encode(), secret.encode())


def _pushed_ref(body: bytes) -> str | None:
    if not body.strip():
        return None
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("not a JSON object") from exc
    except RecursionError:  # the parser's own limit: a 400, not a dropped connection
        raise ValueError("nested too deeply to read (a push event is a flat JSON object)") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    ref = payload.get("ref")
    return ref if isinstance(ref, str) else None


def _same_ref(pushed: str, watched: str) -> bool:
    return pushed in (watched, f"refs/heads/{watched}", f"refs/tags/{watched}")
