"""The Prefect backend's face: what ``prefect``, ``prefect+http://…`` and ``prefect+https://…``
are, for ``app.BACKENDS``.

The server is the registry; Prefect's scheduler and workers run the flows; the owners' leases
are global concurrency limits, their suspend flags and holds block documents (``control``,
``history``), beside each owner's history of passes.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.control import PrefectOwnerControl
from controller.adapters.prefect.history import PrefectHistory
from controller.adapters.prefect.registry import open_prefect_registry
from controller.adapters.prefect.runs import PrefectRuns
from controller.adapters.prefect.settings import resolve_server
from controller.ports import (
    Capabilities,
    EngineRuns,
    HistoryStore,
    HoldStore,
    OwnerControl,
    Registry,
    RunStore,
)

CAPABILITIES = Capabilities(
    supported_infrastructure=None,  # any: Prefect's workers run what their pools run
    runs_triggers=True,  # a deployment's triggers become automations on the server
    variables_writable=False,  # managed with `prefect variable set`
    runs_flows_here=False,
)


class PrefectBackend:
    capabilities = CAPABILITIES

    def __init__(self, url: str, env: Mapping[str, str]) -> None:
        self.url, self._env = url, env  # the server is resolved, and the URL checked, on first use

    def registry(self, create: bool = True) -> Registry:
        return open_prefect_registry(self.url, self._env)

    def owner_control(self, owner: str, holder: str, lease_seconds: float) -> OwnerControl:
        return PrefectOwnerControl(self._client(), owner, lease_seconds)

    def run_store(self) -> RunStore | None:
        return None  # Prefect's workers run the flows

    def engine_runs(self) -> EngineRuns:
        return PrefectRuns(self._client())

    def history(self, create: bool = True) -> HistoryStore:
        return PrefectHistory(self._client())

    def holds(self, create: bool = True) -> HoldStore:
        return PrefectHistory(self._client())

    def _client(self) -> PrefectClient:
        server = resolve_server(self.url, self._env)
        return PrefectClient(server.api_url, server.api_key, server.auth_string)
