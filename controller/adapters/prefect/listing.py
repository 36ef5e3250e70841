"""One read of a Prefect server's deployments, with flow names, and how each looks to the planner.

``read_listing`` pages through flows, deployments and deployctl's automations (at most 200 a
request). ``actual_of`` turns a server deployment into the ``ActualDeployment`` the planner
diffs: what deployctl last applied when the server still holds exactly that, otherwise that
record with the fields (and triggers) someone changed in Prefect's UI laid over it (drift).
Used by ``PrefectRegistry``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.adapters.prefect.automations import (
    Automation,
    automation_digest,
    owner_of_automation,
    read_automations,
    standing_triggers,
)
from controller.adapters.prefect.client import PAGE, PrefectClient
from controller.adapters.prefect.translate import OWNER_TAG_PREFIX, owner_of, owner_tag, view_digest
from controller.core.records import canonical_json, record_digest
from controller.core.spec import DeploymentId, deployment_id
from controller.core.state import ActualDeployment

# Fields a person can change in Prefect's UI that map one to one onto deployctl's record.
PLAIN_FIELDS = (
    "description",
    "version",
    "parameters",
    "paused",
    "concurrency_limit",
    "work_pool_name",
    "work_queue_name",
    "enforce_parameter_schema",
    "entrypoint",
    "job_variables",
    "parameter_openapi_schema",
)


@dataclass(frozen=True)
class Listing:
    deployments: dict[DeploymentId, dict[str, Any]]
    flows: dict[str, str]  # flow name -> flow id
    automations: dict[str, Automation] = field(default_factory=dict)  # deployctl's, by id

    def generation(self, owner: str | None = None) -> int:
        """A number that changes whenever a deployment or an automation (``owner``'s, or any)
        changes on the server."""
        digest = hashlib.sha256()
        for identity in sorted(self.deployments):
            server = self.deployments[identity]
            if owner is None or owner_of(server.get("tags", [])) == owner:
                digest.update(f"{identity}={view_digest(server)};".encode())
        for automation_id in sorted(self.automations):
            automation = self.automations[automation_id]
            if owner is None or owner_of_automation(automation) == owner:
                digest.update(f"{automation_id}={automation_digest(automation)};".encode())
        return int(digest.hexdigest()[:12], 16)


def read_listing(
    client: PrefectClient, owner: str | None = None, declared: Collection[DeploymentId] = ()
) -> Listing:
    """Every deployment on the server; or, given ``owner``, only those carrying its tag, its
    automations, and whichever of ``declared`` (any owner's, or none's) the server holds. On a
    shared server the owner's part is what a pass pays for, not everyone's."""
    if owner is None:
        flow_names = {f["id"]: f["name"] for f in client.paged("/flows/filter")}
        items = list(client.paged("/deployments/filter", {"sort": "NAME_ASC"}))
    else:
        items = list(client.paged("/deployments/filter", _owned(owner)))
        flow_names = _flows_of(client, {i["flow_id"] for i in items})
        if declared:
            found, flows = _declared(client, declared)
            flow_names.update(flows)
            seen = {i["id"] for i in items}
            items += [i for i in found if i["id"] not in seen]
    deployments = {}
    for item in items:
        name = flow_names.get(item["flow_id"])
        if name is not None:
            deployments[deployment_id(name, item["name"])] = item
    if owner is not None and declared:  # read by name: only the declared ones of those names
        wanted = set(declared)
        deployments = {
            i: d for i, d in deployments.items() if i in wanted or owner_of(d.get("tags", [])) == owner
        }
    flows = {name: id_ for id_, name in flow_names.items()}
    return Listing(deployments, flows, read_automations(client, owner))


def _owned(owner: str) -> dict[str, Any]:
    return {"sort": "NAME_ASC", "deployments": {"tags": {"all_": [owner_tag(owner)]}}}


def _flows_of(client: PrefectClient, ids: Collection[str]) -> dict[str, str]:
    """Flow id -> name of the flows ``ids``, at most ``PAGE`` ids a request."""
    wanted = sorted(ids)
    found: dict[str, str] = {}
    for start in range(0, len(wanted), PAGE):
        body = {"flows": {"id": {"any_": wanted[start : start + PAGE]}}}
        found.update((f["id"], f["name"]) for f in client.paged("/flows/filter", body))
    return found


def _declared(
    client: PrefectClient, declared: Collection[DeploymentId]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The deployments named like ``declared`` (a superset: every name under every flow named),
    and the declared flows the server has (id -> name), which the apply then need not create."""
    pairs = sorted(tuple(i.split("/", 1)) for i in declared)
    flow_names = sorted({f for f, _ in pairs})
    flows: dict[str, str] = {}
    for start in range(0, len(flow_names), PAGE):
        body = {"flows": {"name": {"any_": flow_names[start : start + PAGE]}}}
        flows.update((f["id"], f["name"]) for f in client.paged("/flows/filter", body))
    if not flows:
        return [], flows
    names = sorted({n for _, n in pairs})
    items: list[dict[str, Any]] = []
    flow_ids = sorted(flows)
    for start in range(0, len(names), PAGE):
        query: dict[str, Any] = {
            "sort": "NAME_ASC",
            "flows": {"id": {"any_": flow_ids}},
            "deployments": {"name": {"any_": names[start : start + PAGE]}},
        }
        items += client.paged("/deployments/filter", query)
    return items, flows


def actual_of(
    identity: DeploymentId,
    server: dict[str, Any],
    applied: dict[str, Any] | None,
    automations: Mapping[str, Automation] | None = None,
) -> ActualDeployment:
    """``automations``: the listing's, to compare the deployment's triggers too (None: not read)."""
    owner = owner_of(server.get("tags", []))
    if applied is None:
        record = _bare_record(identity, server)
        return ActualDeployment(
            identity, canonical_json(record), record_digest(record), None, owner, None, server.get("version")
        )
    base: dict[str, Any] = applied["record"]
    source_file = base.get("source", {}).get("file")
    triggers = None
    if automations is not None and owner is not None:
        recorded = applied.get("automations")
        triggers = standing_triggers(base.get("triggers", []), recorded, server["id"], owner, automations)
    same_view = view_digest(server) == applied["view"]
    if same_view and triggers is None:
        return ActualDeployment(
            identity,
            canonical_json(base),
            applied["digest"],
            applied["digest"],
            owner,
            source_file,
            server.get("version"),
        )
    record = dict(base) if same_view else overlay(base, server, applied["sent"])
    if triggers is not None:
        record["triggers"] = triggers
    digest = record_digest(record)
    if digest == applied["digest"]:
        # Drifted in a field the record does not show (pull steps, an automation's tag, say):
        # still not what was applied.
        digest = hashlib.sha256(f"drift:{digest}".encode()).hexdigest()
    return ActualDeployment(
        identity, canonical_json(record), digest, applied["digest"], owner, source_file, server.get("version")
    )


def overlay(record: dict[str, Any], server: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """The applied record with every field the server now holds differently put in its place."""
    out = dict(record)
    for name in PLAIN_FIELDS:
        if name in server and server[name] != sent.get(name):
            out[name] = server[name]
    tags = sorted(t for t in server.get("tags", []) if not t.startswith(OWNER_TAG_PREFIX))
    if tags != sorted(record.get("tags", [])):
        out["tags"] = tags
    schedules = {s.get("slug"): s for s in server.get("schedules", [])}
    sent_schedules = {s["slug"]: s for s in sent.get("schedules", [])}
    if set(schedules) != set(sent_schedules):
        out["schedules"] = [_schedule_record(s) for s in server.get("schedules", [])]
    else:
        out["schedules"] = [
            {**r, "active": schedules[s["slug"]]["active"], "parameters": schedules[s["slug"]]["parameters"]}
            for r, s in zip(record.get("schedules", []), sent.get("schedules", []), strict=False)
        ]
    return out


def _schedule_record(server: dict[str, Any]) -> dict[str, Any]:
    inner = server.get("schedule", {})
    kind = "cron" if "cron" in inner else ("interval" if "interval" in inner else "rrule")
    return {
        "kind": kind,
        "timezone": inner.get("timezone") or "UTC",
        "cron": inner.get("cron"),
        "day_or": inner.get("day_or", True),
        "interval_seconds": inner.get("interval"),
        "anchor_date": inner.get("anchor_date"),
        "rrule": inner.get("rrule"),
        "active": server.get("active", True),
        "slug": server.get("slug"),
        "parameters": server.get("parameters", {}),
    }


def _bare_record(identity: DeploymentId, server: dict[str, Any]) -> dict[str, Any]:
    """A deployment deployctl did not apply: enough to name it and show it, never to diff it."""
    flow_name = identity.split("/", 1)[0]
    record = {name: server.get(name) for name in PLAIN_FIELDS}
    record.update(
        flow_name=flow_name,
        name=server.get("name"),
        tags=sorted(server.get("tags", [])),
        schedules=[_schedule_record(s) for s in server.get("schedules", [])],
    )
    return record
