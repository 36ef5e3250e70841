"""Where deployctl keeps its state: flags > DEPLOYCTL_* environment > defaults.

(Repository-level settings — globs, defaults, owner, prune policy — come from the
repository's ``.deployctl.yaml``, read by ``controller.loading``.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = ".deployctl"


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    registry_url: str
    storage_url: str

    @classmethod
    def resolve(
        cls,
        registry: str | None = None,
        storage: str | None = None,
        state_dir: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        state = Path(state_dir or env.get("DEPLOYCTL_STATE_DIR") or DEFAULT_STATE_DIR)
        return cls(
            state_dir=state,
            registry_url=registry or env.get("DEPLOYCTL_REGISTRY") or f"sqlite:///{state / 'registry.db'}",
            storage_url=storage or env.get("DEPLOYCTL_STORAGE") or str(state / "storage"),
        )
