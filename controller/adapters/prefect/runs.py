"""Flow runs on a Prefect server: create one from a deployment, read its state, page its logs.

What `deployment run [--watch]` needs when the registry is a Prefect server: Prefect's
scheduler and workers run the flow; deployctl only asks for the run and follows it. Follows
the arguments of Prefect's ``run_deployment``. Built by the app beside ``PrefectRegistry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.errors import NotFound, UsageError

FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CANCELLED", "CRASHED"})


@dataclass(frozen=True)
class PrefectRun:
    id: str
    name: str
    state_type: str
    state_name: str
    state_message: str = ""
    expected_start_time: str | None = None

    @property
    def finished(self) -> bool:
        return self.state_type in FINAL_STATES

    @property
    def waiting(self) -> bool:
        return self.state_type == "SCHEDULED"


class PrefectRuns:
    def __init__(self, client: PrefectClient) -> None:
        self.client = client

    def create(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
        flow_run_name: str | None = None,
        tags: list[str] | None = None,
        idempotency_key: str | None = None,
        work_queue_name: str | None = None,
        job_variables: Mapping[str, Any] | None = None,
    ) -> PrefectRun:
        deployment_id = self._deployment_id(deployment)
        body: dict[str, Any] = {"parameters": dict(parameters or {})}
        if scheduled_time is not None:
            body["state"] = {
                "type": "SCHEDULED",
                "state_details": {"scheduled_time": scheduled_time.isoformat()},
            }
        optional = {
            "name": flow_run_name,
            "tags": tags,
            "idempotency_key": idempotency_key,
            "work_queue_name": work_queue_name,
            "job_variables": dict(job_variables) if job_variables is not None else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        try:
            created = self.client.write("POST", f"/deployments/{deployment_id}/create_flow_run", body)
        except PrefectApiError as exc:
            if exc.status in (409, 422):
                raise UsageError(f"{deployment}: the Prefect server refused the run: {exc.detail}") from exc
            raise
        return _run(created)

    def get(self, run_id: str) -> PrefectRun:
        try:
            return _run(self.client.get(f"/flow_runs/{run_id}"))
        except PrefectApiError as exc:
            if exc.status in (404, 422):
                raise NotFound(f"no flow run {run_id!r} on the Prefect server") from exc
            raise

    def logs(self, run_id: str, after: int = 0) -> list[tuple[str, str, str]]:
        """(timestamp, level name, message) of the run's log lines, from line ``after`` on."""
        found = self.client.read(
            "/logs/filter",
            {
                "logs": {"flow_run_id": {"any_": [run_id]}},
                "sort": "TIMESTAMP_ASC",
                "offset": after,
                "limit": 200,
            },
        )
        return [(line["timestamp"], _level(line["level"]), line["message"]) for line in found]

    def unserved(self, run_id: str) -> str | None:
        """Why no worker will take the run, from the server's own view of its pool and queue: a
        pool's status is READY while a worker of it is online, a queue's while a worker polled
        it in the last minute. Pools that need no worker (push, managed) are taken as served."""
        run = self.client.get(f"/flow_runs/{run_id}")
        pool, queue = run.get("work_pool_name"), run.get("work_queue_name") or "default"
        if not pool:
            return f"flow run {run_id} has no work pool: no worker takes it (sync the deployment into a pool)"
        path = f"/work_pools/{quote(pool, safe='')}"
        try:
            found, polled = self.client.get(path), self.client.get(f"{path}/queues/{quote(queue, safe='')}")
        except PrefectApiError as exc:
            if exc.status == 404:
                return (
                    f"work pool '{pool}' or its queue '{queue}' does not exist on the server: "
                    "no worker takes the run"
                )
            raise
        return _pool_problem(pool, queue, found, polled)

    def _deployment_id(self, identity: str) -> str:
        flow_name, _, name = identity.partition("/")
        try:
            found = self.client.get(f"/deployments/name/{quote(flow_name, safe='')}/{quote(name, safe='')}")
        except PrefectApiError as exc:
            if exc.status == 404:
                raise NotFound(
                    f"no deployment {identity!r} on the Prefect server ('deployctl deployment ls')"
                ) from exc
            raise
        return str(found["id"])


def _pool_problem(pool: str, queue: str, found: dict[str, Any], polled: dict[str, Any]) -> str | None:
    if found.get("is_paused"):
        return (
            f"work pool '{pool}' is paused: no worker takes its runs until 'prefect work-pool resume {pool}'"
        )
    if polled.get("is_paused"):
        return (
            f"work queue '{queue}' of pool '{pool}' is paused: no worker takes its runs until "
            f"'prefect work-queue resume {queue} --pool {pool}'"
        )
    kind = str(found.get("type", ""))
    if kind.endswith(":push") or kind.endswith(":managed") or kind == "prefect:managed":
        return None
    if found.get("status") == "READY" and polled.get("status") == "READY":
        return None
    last = polled.get("last_polled") or "never"
    return (
        f"no worker serves work pool '{pool}' queue '{queue}' (no worker online in the pool, or none "
        f"polled the queue in the last minute; last polled: {last}): start one with "
        f"'prefect worker start --pool {pool}'; the run waits until then"
    )


def _run(data: dict[str, Any]) -> PrefectRun:
    state = data.get("state") or {}
    return PrefectRun(
        str(data["id"]),
        data.get("name", ""),
        state.get("type", ""),
        state.get("name", ""),
        state.get("message") or "",
        data.get("expected_start_time"),
    )


def _level(number: int) -> str:
    return {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}.get(number, str(number))
