"""Prefect 2's ``deployment build`` options, checked, and made into the fields they name.

``BuildRequest`` holds the options as ``prefect deployment build`` names them; ``named_fields``
checks every one (one clear ``UsageError`` each, before anything is written) and returns the
file's fields they set. ``schedule_item`` reads a schedule as Prefect 2's Python
``build_from_flow`` takes one. Used by ``controller.services.authoring`` and
``controller.deployment``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.errors import UsageError
from controller.loading.infra_blocks import block_reference, default_block
from controller.loading.models.block_deployment import INFRASTRUCTURE_TYPES
from controller.loading.schedule_rules import check_cron, check_rrule, check_timezone, rrule_json

INTERVAL_ANCHOR = "2020-01-01T00:00:00+00:00"
"""deployctl's anchor of an interval without one (Prefect 2 writes the time of the build)."""


@dataclass(frozen=True)
class BuildRequest:
    entrypoint: str
    name: str
    description: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    work_queue: str | None = None
    pool: str | None = None
    infra: str | None = None
    infra_block: str | None = None
    overrides: tuple[str, ...] = ()
    storage_block: str | None = None
    cron: str | None = None
    interval: float | None = None
    anchor_date: str | None = None
    rrule: str | None = None
    timezone: str | None = None
    no_schedule: bool = False
    path: str | None = None
    output: str | None = None
    param: tuple[str, ...] = ()
    params: str | None = None


def named_fields(request: BuildRequest) -> dict[str, Any]:
    """The fields the options set, each option checked first."""
    return {**_schedule_fields(request), **_option_fields(request)}


def _option_fields(request: BuildRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    simple = {
        "description": request.description,
        "version": request.version,
        "work_queue_name": request.work_queue,
        "work_pool_name": request.pool,
        "path": request.path,
    }
    out.update({k: v for k, v in simple.items() if v is not None})
    if request.tags:
        out["tags"] = list(request.tags)
    parameters = parse_parameters(request.param, request.params)
    if parameters is not None:
        out["parameters"] = parameters
    if request.overrides:
        out["infra_overrides"] = parse_overrides(request.overrides)
    infrastructure = _infrastructure(request)
    if infrastructure is not None:
        out["infrastructure"] = infrastructure
    out.update(_storage(request))
    return out


def parse_parameters(pairs: tuple[str, ...], as_json: str | None) -> dict[str, Any] | None:
    """``--param k=v`` (a JSON value, else the text, as Prefect 2) or ``--params JSON``."""
    if pairs and as_json is not None:
        raise UsageError("give either --param or --params, not both")
    if as_json is not None:
        try:
            parameters = json.loads(as_json)
        except json.JSONDecodeError as exc:
            example = '{"x": 1}'
            raise UsageError(
                f"--params is not valid JSON ({exc}): give an object such as '{example}'"
            ) from None
        if not isinstance(parameters, dict):
            raise UsageError("--params must be a JSON object such as '{\"x\": 1}'")
        return parameters
    if not pairs:
        return None
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--override {pair!r} is not a dotted KEY=VALUE such as env.LEVEL=DEBUG")
        out[key] = value
    return out


def _infrastructure(request: BuildRequest) -> dict[str, Any] | None:
    if request.infra and request.infra_block:
        raise UsageError("give either --infra or --infra-block, not both")
    if request.infra:
        if request.infra not in INFRASTRUCTURE_TYPES:
            raise UsageError(f"--infra '{request.infra}' is not one of {', '.join(INFRASTRUCTURE_TYPES)}")
        return default_block(request.infra)
    if request.infra_block:
        kind, _, name = request.infra_block.partition("/")
        if kind not in INFRASTRUCTURE_TYPES or not name:
            raise UsageError(
                f"--infra-block '{request.infra_block}' must be TYPE/NAME, TYPE one of "
                + ", ".join(INFRASTRUCTURE_TYPES)
            )
        return block_reference(request.infra_block)
    return None


def _storage(request: BuildRequest) -> dict[str, Any]:
    if not request.storage_block:
        return {}
    kind, _, rest = request.storage_block.partition("/")
    name, _, sub = rest.partition("/")
    if not kind or not name:
        raise UsageError(f"--storage-block '{request.storage_block}' must be TYPE/NAME[/PATH]")
    if sub and request.path:
        raise UsageError("give the path either in --storage-block TYPE/NAME/PATH or in --path, not both")
    out: dict[str, Any] = {"storage": {"_block_document_name": name, "_block_type_slug": kind}}
    if sub:
        out["path"] = sub
    return out


def _schedule_fields(request: BuildRequest) -> dict[str, Any]:
    given = [x for x in (request.cron, request.interval, request.rrule) if x is not None]
    if len(given) + request.no_schedule > 1:
        raise UsageError("give only one of --cron, --interval, --rrule and --no-schedule")
    if request.anchor_date and request.interval is None:
        raise UsageError("--anchor-date goes with --interval only")
    zone = _checked(check_timezone, request.timezone, "--timezone") if request.timezone else None
    if request.no_schedule:
        return {"schedule": None, "schedules": []}
    if not given:
        return {}
    return {"schedule": None, "schedules": [{"schedule": _schedule(request, zone), "active": True}]}


def _schedule(request: BuildRequest, zone: str | None) -> dict[str, Any]:
    if request.cron is not None:
        return {"cron": _checked(check_cron, request.cron, "--cron"), "timezone": zone, "day_or": True}
    if request.interval is not None:
        if request.interval <= 0:
            raise UsageError(f"--interval {request.interval:g} must be a positive number of seconds")
        from controller.loading.schedule_rules import normalise_anchor_date

        anchor = INTERVAL_ANCHOR
        if request.anchor_date:
            # a naive anchor is UTC whatever --timezone says, as Prefect 2's build reads it
            anchor = _checked(lambda a: normalise_anchor_date(a, None), request.anchor_date, "--anchor-date")
        return {"interval": float(request.interval), "anchor_date": anchor, "timezone": zone or "UTC"}
    assert request.rrule is not None
    try:
        as_json = rrule_json(request.rrule)
    except ValueError as exc:
        raise UsageError(f"--rrule: {exc}") from None
    rule = as_json["rrule"] if as_json else request.rrule
    _checked(check_rrule, rule, "--rrule")
    return {"rrule": rule, "timezone": zone or (as_json or {}).get("timezone") or "UTC"}


def _checked(check: Any, value: str, option: str) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def schedule_item(value: Any) -> dict[str, Any]:
    """One entry of ``schedules:`` from what Prefect 2's ``build_from_flow`` accepts: a
    ``{"schedule": {...}, "active": bool}`` mapping, a bare schedule mapping (``cron``,
    ``interval`` as seconds or a timedelta, ``rrule``, with ``timezone``, ``anchor_date``), or a
    Prefect schedule object (anything with ``dict()`` or ``model_dump()``)."""
    from datetime import timedelta

    for method in ("model_dump", "dict"):
        if not isinstance(value, Mapping) and callable(getattr(value, method, None)):
            value = getattr(value, method)()
    if not isinstance(value, Mapping):
        raise UsageError(f"schedule {value!r} is not a mapping such as {{'cron': '0 9 * * *'}}")
    if "schedule" in value:
        inner = schedule_item(value["schedule"])["schedule"]
        return {"schedule": inner, "active": bool(value.get("active", True))}
    interval = value.get("interval")
    if isinstance(interval, timedelta):
        interval = interval.total_seconds()
    anchor = value.get("anchor_date")
    request = BuildRequest(
        "", "", cron=value.get("cron"), interval=interval, rrule=value.get("rrule"),
        timezone=value.get("timezone"), anchor_date=str(anchor) if anchor is not None else None,
    )  # fmt: skip
    fields = _schedule_fields(request)
    if not fields.get("schedules"):
        raise UsageError(f"schedule {dict(value)!r} names none of cron, interval, rrule")
    entry: dict[str, Any] = fields["schedules"][0]
    if "day_or" in value and "cron" in entry["schedule"]:
        entry["schedule"]["day_or"] = bool(value["day_or"])
    return entry
