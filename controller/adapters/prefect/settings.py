"""Which Prefect server a registry URL names, and with which credentials.

``prefect`` reads ``PREFECT_API_URL`` / ``PREFECT_API_KEY`` / ``PREFECT_API_AUTH_STRING`` from
the environment, else from the active profile of ``$PREFECT_HOME/profiles.toml`` (default
``~/.prefect``), as Prefect's own CLI does. ``prefect+http://…/api`` and ``prefect+https://…``
name a server directly (credentials still from the environment or profile). Called by
``open_prefect_registry``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.errors import ConfigError

SCHEME = "prefect"
SETTINGS = ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_API_AUTH_STRING")


@dataclass(frozen=True)
class ServerSettings:
    api_url: str
    api_key: str | None = None
    auth_string: str | None = None

    @property
    def is_cloud(self) -> bool:
        return "/accounts/" in self.api_url and "/workspaces/" in self.api_url


def is_prefect_url(url: str) -> bool:
    return url == SCHEME or url.startswith(f"{SCHEME}+")


def resolve_server(url: str, env: Mapping[str, str]) -> ServerSettings:
    values = {**_profile(env), **{k: env[k] for k in SETTINGS if env.get(k)}}
    if url == SCHEME:
        api_url = values.get("PREFECT_API_URL")
        if not api_url:
            raise ConfigError(
                "registry 'prefect': no server named; set PREFECT_API_URL (or a Prefect profile "
                "with `prefect config set PREFECT_API_URL=…`), or use --registry prefect+http://HOST:PORT/api"
            )
    elif url.startswith(f"{SCHEME}+http://") or url.startswith(f"{SCHEME}+https://"):
        api_url = url.removeprefix(f"{SCHEME}+")
    else:
        raise ConfigError(
            f"registry URL {url!r} is not supported: use prefect, prefect+http://HOST:PORT/api "
            "or prefect+https://HOST/api"
        )
    return ServerSettings(
        api_url.rstrip("/"), values.get("PREFECT_API_KEY"), values.get("PREFECT_API_AUTH_STRING")
    )


def _profile(env: Mapping[str, str]) -> dict[str, str]:
    """Settings of the active profile; none when there is no profiles file."""
    home = Path(env.get("PREFECT_HOME") or Path(env.get("HOME") or Path.home()) / ".prefect")
    path = Path(env.get("PREFECT_PROFILES_PATH") or home / "profiles.toml").expanduser()
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the Prefect profiles ({exc}); fix or remove it") from exc
    active = env.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = data.get("profiles", {}).get(active, {})
    return {k: str(v) for k, v in profile.items() if k in SETTINGS and v}
