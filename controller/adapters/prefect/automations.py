"""A deployment's triggers as Prefect automations: the translation, and one deployment's sync.

``automation_body`` is what ``prefect deploy`` 3.9.1 sends for a trigger (``as_automation``:
a ``run-deployment`` action with ``source: selected``, ``owner_resource:
prefect.deployment.<id>``), plus the tag ``deployctl-owner:OWNER``, so that one filtered
listing per pass finds an owner's automations. ``comparable`` is the part of an automation
that deployctl manages, so what would be sent and what is there compare directly. Unlike
``prefect deploy``, which deletes a deployment's automations and makes them anew on every
deploy, ``AutomationSync`` updates each in place (same id) and writes nothing when they match.
Used by ``prefect_listing`` (reading, drift) and ``prefect_apply`` (writing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.adapters.prefect.client import PrefectApiError, PrefectClient
from controller.adapters.prefect.translate import OWNER_TAG_PREFIX, owner_tag

Automation = dict[str, Any]
TRIGGER_SETS = ("after", "expect", "for_each")
SERVER_OWNED = frozenset({"id", "created", "updated", "owner_resource"})


def owner_resource(deployment_id: str) -> str:
    return f"prefect.deployment.{deployment_id}"


def automation_body(trigger: Mapping[str, Any], deployment_id: str, owner: str) -> Automation:
    """``trigger``: one entry of a spec's ``triggers`` (``loading.models.triggers.trigger_record``)."""
    return {
        "name": trigger["name"],
        "description": trigger["description"],
        "enabled": trigger["enabled"],
        "tags": [owner_tag(owner)],
        "trigger": trigger["trigger"],
        "actions": [
            {
                "type": "run-deployment",
                "source": "selected",
                "deployment_id": deployment_id,
                "parameters": trigger["parameters"],
                "job_variables": trigger["job_variables"],
                "schedule_after": trigger["schedule_after"],
            }
        ],
        "actions_on_trigger": [],
        "actions_on_resolve": [],
        "owner_resource": owner_resource(deployment_id),
    }


def comparable(automation: Mapping[str, Any]) -> Automation:
    """Less what the server sets (ids, times) and the order of Prefect's event sets."""
    out = {k: v for k, v in automation.items() if k not in SERVER_OWNED}
    out["tags"] = sorted(out.get("tags", []))
    out["trigger"] = _comparable_trigger(out.get("trigger") or {})
    return out


def _comparable_trigger(trigger: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in trigger.items() if k != "id"}
    for name in TRIGGER_SETS:
        if isinstance(out.get(name), list):
            out[name] = sorted(set(out[name]))
    if isinstance(out.get("triggers"), list):
        out["triggers"] = [_comparable_trigger(t) for t in out["triggers"]]
    return out


def automation_digest(automation: Mapping[str, Any]) -> str:
    text = json.dumps(comparable(automation), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def trigger_of(automation: Mapping[str, Any]) -> dict[str, Any]:
    """A server automation read back as a spec's trigger entry, to show drift in a plan. Actions
    that are not one run of the deployment stay as the server holds them."""
    actions = automation.get("actions") or []
    run = actions[0] if len(actions) == 1 and actions[0].get("type") == "run-deployment" else None
    found: dict[str, Any] = {
        "name": automation.get("name"),
        "description": automation.get("description"),
        "enabled": automation.get("enabled"),
        "parameters": run.get("parameters") if run else None,
        "job_variables": run.get("job_variables") if run else None,
        "schedule_after": run.get("schedule_after") if run else 0.0,
        "trigger": _comparable_trigger(automation.get("trigger") or {}),
    }
    if run is None:
        found["actions"] = actions
    return found


def owner_of_automation(automation: Mapping[str, Any]) -> str | None:
    tags = automation.get("tags") or []
    return next((t.removeprefix(OWNER_TAG_PREFIX) for t in tags if t.startswith(OWNER_TAG_PREFIX)), None)


def target_of(automation: Mapping[str, Any]) -> str | None:
    """The deployment the automation's first action runs."""
    actions = automation.get("actions") or []
    return str(actions[0].get("deployment_id")) if actions and actions[0].get("deployment_id") else None


def read_automations(client: PrefectClient, owner: str | None = None) -> dict[str, Automation]:
    """Every automation deployctl made (``owner``'s only, when given), by id: one filtered listing."""
    tags: dict[str, Any] = {"all_": [owner_tag(owner)]} if owner is not None else {"is_null_": False}
    return {
        str(a["id"]): a
        for a in client.paged("/automations/filter", {"automations": {"tags": tags}, "sort": "NAME_ASC"})
        if owner_of_automation(a) is not None
    }


def standing_triggers(
    record_triggers: Sequence[Mapping[str, Any]],
    recorded: Sequence[str] | None,
    deployment_id: str,
    owner: str,
    automations: Mapping[str, Automation],
) -> list[dict[str, Any]] | None:
    """None when the server holds exactly the automations of ``record_triggers``; otherwise the
    triggers it does hold (``recorded``: the ids applied, None before deployctl made any)."""
    if recorded is None:
        return [] if record_triggers else None
    found = [automations[i] for i in recorded if i in automations]
    wanted = [comparable(automation_body(t, deployment_id, owner)) for t in record_triggers]
    if [comparable(a) for a in found] == wanted:
        return None
    return [trigger_of(a) for a in found]


@dataclass
class AutomationSync:
    """Writes the automations of one deployment at a time. ``automations`` is the pass's listing
    (id -> automation), kept up to date with every write so the generation after the apply is
    what the server now holds."""

    client: PrefectClient
    automations: dict[str, Automation]

    def sync(
        self,
        triggers: Sequence[Mapping[str, Any]],
        deployment_id: str,
        owner: str,
        recorded: Sequence[str],
        created: bool,
    ) -> tuple[list[str], str | None]:
        """The ids now standing, in trigger order, and the refusal that stopped it, if any.
        ``created``: the deployment is new, so automations recorded for it ran an older one."""
        ids: list[str] = []
        leftover = list(recorded) if created else list(recorded[len(triggers) :])
        reusable = [] if created else list(recorded[: len(triggers)])
        try:
            for position, trigger in enumerate(triggers):
                body = automation_body(trigger, deployment_id, owner)
                current = self._current(reusable[position]) if position < len(reusable) else None
                ids.append(self._put(current, body) if current else self._create(body))
            for stray in [*leftover, *self._strays(deployment_id, owner, {*ids, *recorded})]:
                self.delete(stray)
        except PrefectApiError as exc:
            at = (
                f"trigger {len(ids) + 1} ({triggers[len(ids)]['name']})"
                if len(ids) < len(triggers)
                else "a trigger"
            )
            return ids, f"the automation of {at}: {exc}"
        return ids, None

    def delete_owned(self, deployment_id: str | None, recorded: Sequence[str]) -> None:
        """The automations of a deleted deployment: what it owns (as ``prefect deploy`` deletes
        them), or, when the deployment is already gone, each recorded one."""
        if not recorded:
            return
        if deployment_id is None:
            for automation_id in recorded:
                self.delete(automation_id)
            return
        self.client.write("DELETE", f"/automations/owned-by/{owner_resource(deployment_id)}")
        for automation_id in recorded:
            self.automations.pop(automation_id, None)

    def delete(self, automation_id: str) -> None:
        try:
            self.client.write("DELETE", f"/automations/{automation_id}")
        except PrefectApiError as exc:
            if exc.status != 404:
                raise
        self.automations.pop(automation_id, None)

    def _current(self, automation_id: str) -> Automation | None:
        """The recorded automation: from the listing, or read by id when the listing missed it
        (someone removed deployctl's tag: it is still this deployment's, and is restored)."""
        if automation_id in self.automations:
            return self.automations[automation_id]
        try:
            found: Automation = self.client.get(f"/automations/{automation_id}")
        except PrefectApiError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    def _create(self, body: Automation) -> str:
        created: Automation = self.client.write("POST", "/automations/", body)
        self.automations[str(created["id"])] = created
        return str(created["id"])

    def _put(self, current: Automation, body: Automation) -> str:
        automation_id = str(current["id"])
        if comparable(current) != comparable(body):
            # PUT takes the automation without owner_resource; the server keeps the ownership.
            update = {k: v for k, v in body.items() if k != "owner_resource"}
            self.client.write("PUT", f"/automations/{automation_id}", update)
            current = self.client.get(f"/automations/{automation_id}")
        self.automations[automation_id] = current
        return automation_id

    def _strays(self, deployment_id: str, owner: str, known: set[str]) -> Iterator[str]:
        """This owner's automations of this deployment that no record names (a pass that
        stopped between creating one and recording it)."""
        for automation_id, automation in list(self.automations.items()):
            if (
                automation_id not in known
                and owner_of_automation(automation) == owner
                and target_of(automation) == deployment_id
            ):
                yield automation_id
