"""Where deployctl keeps its state: flags > DEPLOYCTL_* environment > defaults.

One per-user home, ``DEPLOYCTL_HOME`` (default ``~/.deployctl``), like Prefect's ``~/.prefect``,
resolved to an absolute path once, here, so nothing later depends on the directory a command
was started from. Local registry and storage paths are made absolute the same way. A secret
variable shorter than 8 characters is refused here, before anything runs.
(Repository-level settings come from the repository's ``.deployctl.yaml``, read by loading.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.core.history import DEFAULT_HISTORY_LIMIT
from controller.core.redaction import short_secrets
from controller.errors import ConfigError

DEFAULT_HOME = "~/.deployctl"
SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class Settings:
    home: Path
    registry_url: str
    storage_url: str
    notifications: Path | None = None
    """The notification settings file ``DEPLOYCTL_NOTIFICATIONS`` names (it must exist); None:
    ``home/notifications.yaml`` when there is one."""
    history_limit: int = DEFAULT_HISTORY_LIMIT
    """Passes kept per owner in the history (``DEPLOYCTL_HISTORY_LIMIT``)."""

    @classmethod
    def resolve(
        cls,
        registry: str | None = None,
        storage: str | None = None,
        home: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        problem = short_secrets(env)
        if problem:
            raise ConfigError(problem)
        folder = _absolute(home or env.get("DEPLOYCTL_HOME") or DEFAULT_HOME, env)
        registry = registry or env.get("DEPLOYCTL_REGISTRY") or f"{SQLITE_PREFIX}{folder / 'registry.db'}"
        storage = storage or env.get("DEPLOYCTL_STORAGE") or str(folder / "storage")
        notifications = env.get("DEPLOYCTL_NOTIFICATIONS")
        return cls(
            home=folder,
            registry_url=_absolute_sqlite(registry, env),
            storage_url=_local(storage, env),
            notifications=_absolute(notifications, env) if notifications else None,
            history_limit=_history_limit(env.get("DEPLOYCTL_HISTORY_LIMIT")),
        )


def _history_limit(value: str | None) -> int:
    if not value:
        return DEFAULT_HISTORY_LIMIT
    if not value.strip().isdigit() or int(value) < 1:
        raise ConfigError(
            f"DEPLOYCTL_HISTORY_LIMIT={value!r}: give the number of passes to keep per owner, "
            f"a whole number of at least 1 (default {DEFAULT_HISTORY_LIMIT})"
        )
    return int(value)


def _absolute(path: str, env: Mapping[str, str]) -> Path:
    if path == "~" or path.startswith("~/"):
        path = env.get("HOME", os.path.expanduser("~")) + path[1:]
    return Path(os.path.abspath(path))


def _absolute_sqlite(url: str, env: Mapping[str, str]) -> str:
    if url.startswith(SQLITE_PREFIX) and url != SQLITE_PREFIX:
        return f"{SQLITE_PREFIX}{_absolute(url.removeprefix(SQLITE_PREFIX), env)}"
    return url


def _local(url: str, env: Mapping[str, str]) -> str:
    return url if "://" in url else str(_absolute(url, env))
