"""Applying a plan to a Prefect server, one request at a time by default (SQLite-backed servers
answer 503 to concurrent writes; ``concurrency`` > 1 is for Postgres-backed servers and Cloud).
Upserts first, deletes last; a refused deployment is a failure of that deployment only.
A deployment's triggers are synced as automations right after its upsert and deleted with it
(``prefect_automations``). Records what it wrote in the owner's state as it goes. Used by
``PrefectRegistry.apply``.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.adapters.prefect.admission import missing_pool
from controller.adapters.prefect.automations import AutomationSync
from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.adapters.prefect.listing import Listing
from controller.adapters.prefect.state import OwnerState
from controller.adapters.prefect.translate import (
    CodeSource,
    Stamp,
    changed_fields,
    owner_of,
    to_api,
    view_digest,
)
from controller.core.plan import Action, Change, Plan
from controller.core.records import to_record
from controller.core.spec import DeploymentId
from controller.ports import Application

# A PATCH naming only the queue would move the deployment to Prefect's default pool.
QUEUE_FIELDS = ("work_pool_name", "work_queue_name")


class Applier:
    def __init__(
        self,
        client: PrefectClient,
        state: OwnerState,
        code: CodeSource,
        create_work_pools: bool,
        keepalive: Callable[[], None] = lambda: None,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.state = state
        self.code = code
        self.create_work_pools = create_work_pools
        self.keepalive = keepalive
        self.concurrency = concurrency
        self.version_info = True
        self.touched = False
        self.written: dict[DeploymentId, dict[str, Any] | None] = {}  # None: deleted
        self._flows: dict[str, str] = {}
        self._pools: dict[str, str | None] = {}  # name -> None if usable, else why not
        self.automations = AutomationSync(client, {})

    def apply(self, plan: Plan, app: Application, listing: Listing) -> dict[DeploymentId, str]:
        """Upserts (``concurrency`` at a time), then deletes one by one."""
        self._flows = dict(listing.flows)
        self.automations = AutomationSync(self.client, listing.automations)
        upserts = [c for c in plan.changes if c.action in (Action.CREATE, Action.UPDATE) and c.desired]
        # Flows and pools first, once each, so that concurrent upserts never race to make them.
        for flow_name in sorted({c.desired.flow_name for c in upserts if c.desired} - self._flows.keys()):
            self._flows[flow_name] = str(self.client.write("POST", "/flows/", {"name": flow_name})["id"])
        for pool_name in sorted({c.desired.work_pool_name or "" for c in upserts if c.desired}):
            self._pool_problem(pool_name)

        def upsert(change: Change) -> tuple[DeploymentId, str | None]:
            self.keepalive()
            return change.id, self._upsert(change, app, listing.deployments.get(change.id))

        if self.concurrency > 1:
            with ThreadPoolExecutor(self.concurrency) as workers:
                outcomes = list(workers.map(upsert, upserts))
        else:
            outcomes = [upsert(c) for c in upserts]
        for change in plan.of(Action.DELETE):
            self.keepalive()
            outcomes.append(
                (change.id, self._delete(change.id, app.owner, listing.deployments.get(change.id)))
            )
        return {identity: problem for identity, problem in outcomes if problem}

    def _upsert(self, change: Change, app: Application, server: dict[str, Any] | None) -> str | None:
        spec = change.desired
        assert spec is not None and change.desired_digest is not None
        if server is not None and owner_of(server.get("tags", [])) != app.owner:
            return "taken by another owner since the plan was made; left untouched"
        pool_problem = self._pool_problem(spec.work_pool_name)
        if pool_problem:
            return pool_problem
        extra = app.deployments[change.id]
        body = to_api(spec, Stamp(app.owner, extra.commit, extra.artifact_uri, self.version_info), self.code)
        try:
            if server is None:
                result = self._create(spec.flow_name, body)
            else:
                result = self._update(self.state.deployments.get(change.id), server, body)
        except PrefectApiError as exc:
            return str(exc)
        recorded = (self.state.deployments.get(change.id) or {}).get("automations", [])
        automations, problem = self.automations.sync(
            spec.triggers, str(result["id"]), app.owner, recorded, created=server is None
        )
        self.state.deployments[change.id] = {
            "record": to_record(spec),
            "digest": change.desired_digest,
            "sent": body,
            "view": view_digest(result),
            "input_digest": extra.input_digest,
            "version": spec.version,
            "commit": extra.commit,
            "artifact_uri": extra.artifact_uri,
            "automations": automations,
        }
        self.written[change.id] = result
        self.touched = True
        return problem

    def _create(self, flow_name: str, body: dict[str, Any]) -> dict[str, Any]:
        flow_id = self._flows[flow_name]
        try:
            created: dict[str, Any] = self.client.write("POST", "/deployments/", {**body, "flow_id": flow_id})
        except PrefectApiError as exc:
            if not ("version_info" in exc.detail and exc.status == 422 and self.version_info):
                raise
            # A server older than version_info: send what it knows, from now on.
            self.version_info = False
            body.pop("version_info", None)
            created = self.client.write("POST", "/deployments/", {**body, "flow_id": flow_id})
        return created

    def _update(
        self, applied: dict[str, Any] | None, server: dict[str, Any], body: dict[str, Any]
    ) -> dict[str, Any]:
        """Only what changed since the last apply; everything when the server drifted from it."""
        if applied is None or view_digest(server) != applied["view"]:
            patch = {k: v for k, v in body.items() if k != "name"}
        else:
            patch = changed_fields(applied["sent"], body)
        if any(k in patch for k in QUEUE_FIELDS):
            patch.update({k: body[k] for k in QUEUE_FIELDS if k in body})
        wanted = {s["slug"] for s in body["schedules"]}
        removed = [s for s in server.get("schedules", []) if s.get("slug") not in wanted]
        deployment = server["id"]
        if patch:
            self.client.write("PATCH", f"/deployments/{deployment}", patch)
        for schedule in removed:
            self.client.write("DELETE", f"/deployments/{deployment}/schedules/{schedule['id']}")
        if not patch and not removed:
            return server
        fresh: dict[str, Any] = self.client.get(f"/deployments/{deployment}")
        return fresh

    def _delete(self, identity: DeploymentId, owner: str, server: dict[str, Any] | None) -> str | None:
        recorded = (self.state.deployments.get(identity) or {}).get("automations", [])
        if server is not None:
            if owner_of(server.get("tags", [])) != owner:
                return "no longer carries this owner's tag; left untouched"
            try:
                # automations first: once the deployment is gone, nothing names them any more
                self.automations.delete_owned(str(server["id"]), recorded)
                self.client.write("DELETE", f"/deployments/{server['id']}")
            except PrefectApiError as exc:
                if exc.status != 404:
                    return str(exc)
        else:
            try:
                self.automations.delete_owned(None, recorded)
            except PrefectApiError as exc:
                return str(exc)
        self.state.deployments.pop(identity, None)
        self.written[identity] = None
        self.touched = True
        return None

    def _pool_problem(self, name: str | None) -> str | None:
        if not name:
            return None
        if name not in self._pools:
            self._pools[name] = self._check_pool(name)
        return self._pools[name]

    def _check_pool(self, name: str) -> str | None:
        try:
            self.client.get(f"/work_pools/{name}")
            return None
        except PrefectApiError as exc:
            if exc.status != 404:
                return str(exc)
        if self.create_work_pools:
            self.client.write("POST", "/work_pools/", {"name": name, "type": "process"})
            return None
        return missing_pool(name)
