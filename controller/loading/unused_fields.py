"""The one warning per prefect.yaml about fields Prefect knows and deployctl accepts but does
not use, so nothing is dropped silently. Called by ``controller.loading.manifests``."""

from __future__ import annotations

from typing import Any

from controller.core.diagnostics import Diagnostic, FieldPath, Severity, format_field_path
from controller.loading.safe_yaml import Locator

_WHY = {
    "version": "kept as the declared version; deployctl versions each deployment by its commit",
    "version_type": "deployctl versions by commit",
    "build": "deployctl builds from git itself",
    "push": "deployctl uploads the code itself",
    "pull": "runs get the code of their version from deployctl",
    "replaces": "scheduled runs follow the schedule's slug",
    "grace_period_seconds": "concurrency slots are released when a run ends",
    "collision_strategy": "stored, but the embedded runner queues runs beyond the limit (ENQUEUE)",
}


def unused_fields_warning(path: str, data: Any, locator: Locator) -> tuple[Diagnostic, ...]:
    found = list(_unused(data))
    if not found:
        return ()
    line, column = locator.locate(found[0])
    names = sorted({str(where[-1]) for where in found})
    places = ", ".join(format_field_path(where) for where in found[:5]) + (" …" if len(found) > 5 else "")
    reasons = "; ".join(f"{name}: {_WHY[name]}" for name in names)
    return (
        Diagnostic(
            path,
            line,
            column,
            format_field_path(found[0]),
            f"not used by deployctl: {places} ({reasons})",
            "unused-field",
            Severity.WARNING,
        ),
    )


def _unused(data: Any) -> list[FieldPath]:
    if not isinstance(data, dict):
        return []
    found: list[FieldPath] = [(key,) for key in ("build", "push", "pull") if data.get(key)]
    for index, item in enumerate(data.get("deployments") or []):
        if not isinstance(item, dict):
            continue
        here: FieldPath = ("deployments", index)
        found += [
            (*here, key) for key in ("version", "version_type", "build", "push", "pull") if item.get(key)
        ]
        limit = item.get("concurrency_limit")
        if isinstance(limit, dict):
            if limit.get("collision_strategy") == "CANCEL_NEW":
                found.append((*here, "concurrency_limit", "collision_strategy"))
            if limit.get("grace_period_seconds") is not None:
                found.append((*here, "concurrency_limit", "grace_period_seconds"))
        schedules = item.get("schedules") or []
        for position, schedule in enumerate(schedules if isinstance(schedules, list) else []):
            if isinstance(schedule, dict) and schedule.get("replaces"):
                found.append((*here, "schedules", position, "replaces"))
    return found
