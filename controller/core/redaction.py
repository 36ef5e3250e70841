"""Secrets out of text: credentials in URLs, and the whole values of known secrets, become ``***``. Pure.

A secret is replaced only where it stands as a token of its own: at each end that is a word
character, the next character must be a non-word character or the end of a line, so a secret
that is also part of ordinary words never mangles them. A secret shorter than
``MIN_SECRET_LENGTH`` is refused at start-up (``short_secret``): it is guessable, and a short
value is too often a word. Called by the controller's log filter, the git source and the
Prefect client; ``Settings.resolve`` and the controller command refuse short secrets.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping

MIN_SECRET_LENGTH = 8
SECRET_VALUES = (
    "DEPLOYCTL_GIT_TOKEN",
    "DEPLOYCTL_WEBHOOK_SECRET",
    "PREFECT_API_KEY",
    "PREFECT_API_AUTH_STRING",
)
"""The variables whose values are credentials deployctl redacts (a subset of
``core.environment.SECRET_VARIABLES``, which also names what carries them to git)."""

_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def short_secret(name: str, value: str | None) -> str | None:
    """Why ``value`` of the secret ``name`` is refused, or None (unset counts as no secret)."""
    if not value or len(value) >= MIN_SECRET_LENGTH:
        return None
    return (
        f"{name} is {len(value)} characters long: a secret must have at least {MIN_SECRET_LENGTH} "
        "(a short one is guessable, and cannot be told from ordinary words in logs); use a longer one"
    )


def short_secrets(environ: Mapping[str, str]) -> str | None:
    """The first refusal among the secret variables of ``environ``, or None."""
    for name in SECRET_VALUES:
        problem = short_secret(name, environ.get(name))
        if problem:
            return problem
    return None


class Redactor:
    """``redactor(text)``: ``text`` with URL credentials and every whole secret as ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile("|".join(_token(s) for s in values)) if values else None

    def __call__(self, text: str) -> str:
        text = _USERINFO.sub("***@", text)
        return self._pattern.sub("***", text) if self._pattern else text


def _token(secret: str) -> str:
    before = r"(?<!\w)" if re.match(r"\w", secret[0]) else ""
    after = r"(?!\w)" if re.match(r"\w", secret[-1]) else ""
    return before + re.escape(secret) + after


@functools.lru_cache(maxsize=64)
def _redactor(secrets: tuple[str | None, ...]) -> Redactor:
    return Redactor(secrets)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``Redactor(secrets)(text)``, the pattern made once per set of secrets."""
    return _redactor(tuple(secrets))(text)
