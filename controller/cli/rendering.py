"""Renders sync results, plans and tables for people (text, markdown) and machines (JSON).

Text reads like ``terraform plan`` in a CI log; markdown pastes into a pull-request comment.
Diff values are shown as inline YAML, as they are written in manifests. Called by the CLI only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from controller.core.diagnostics import Diagnostic
from controller.core.diff import MISSING, DiffItem
from controller.core.plan import Action, Change, Plan
from controller.core.status import applied_count

if TYPE_CHECKING:
    from controller.services.syncing import SyncResult

_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
_VERB = {Action.CREATE: "create", Action.UPDATE: "update", Action.DELETE: "delete"}


def summary_line(plan: Plan) -> str:
    counts = plan.counts
    return (
        f"{counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete, "
        f"{counts['noop']} unchanged"
    )


def render_text(result: SyncResult, applied_verb: str) -> str:
    lines = [
        f"source: {result.repo_url or '?'} {result.ref} @ {(result.revision or '?')[:12]}"
        + (f" (path {result.path})" if result.path else "")
        + f", owner {result.owner}"
    ]
    lines += [f"warning: {w}" for w in result.warnings]
    lines += [str(d) for d in result.diagnostics]
    plan = result.plan
    if result.up_to_date:
        lines.append(f"up to date: {(result.revision or '')[:12]} is applied and nothing drifted")
    elif plan is not None:
        lines += [""] + [_change_text(c) for c in plan.changes if c.action is not Action.NOOP]
        lines += [
            f"! {i}: exists in the registry but is not owned by {result.owner}; left untouched"
            for i in plan.conflicts
        ]
        lines += [f"* {i}: its manifest is invalid; kept at its last applied state" for i in plan.frozen]
        if result.failures:  # what the registry now holds, never what was planned
            lines += ["", f"{applied_count(plan.writes, result.failures)} (planned: {summary_line(plan)})"]
        else:
            verb = "Planned, nothing applied" if result.error and not result.applied else applied_verb
            lines += ["", f"{verb}: {summary_line(plan)}"]
    lines += [f"failed: {i}: {m}" for i, m in sorted(result.failures.items())]
    return "\n".join(lines)


def _change_text(change: Change) -> str:
    head = f"{_SYMBOL[change.action]} {change.id}"
    if change.action is Action.CREATE and change.desired is not None:
        return head + f"  (version {change.desired.version})"
    if change.action is Action.UPDATE:
        return "\n".join(
            [head + f"  ({change.cause.value})"] + [f"    {_item(item)}" for item in change.diff]
        )
    return head


def _item(item: DiffItem) -> str:
    return f"{item.path}: {yaml_value(item.old)} -> {yaml_value(item.new)}"


def yaml_value(value: Any) -> str:
    """A value as one line of flow-style YAML (``{cron: 0 * * * *}``), ``<absent>`` when missing."""
    if value is MISSING:
        return str(MISSING)
    import yaml

    text: str = yaml.safe_dump(_plain(value), default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def render_markdown(result: SyncResult, verb: str = "plan") -> str:
    plan = result.plan
    out = [f"### deployctl {verb} for `{(result.revision or '?')[:12]}` ({result.ref})", ""]
    if result.error:
        out += [f"> **Error:** {result.error}", ""]
    out += [f"> **Warning:** {w}" for w in result.warnings] + ([""] if result.warnings else [])
    out += diagnostics_markdown(result.diagnostics)
    rows = _markdown_rows(result)
    if not rows and len(out) == 2:
        return "\n".join(out + ["No changes."])
    if rows:
        out += ["| | deployment | details |", "|---|---|---|", *rows, ""]
    return "\n".join(out + ([f"**{summary_line(plan)}**"] if plan is not None else []))


def diagnostics_markdown(diagnostics: Sequence[Diagnostic]) -> list[str]:
    """The problems as a table a pull-request comment shows: file and line, field, message."""
    if not diagnostics:
        return []
    rows = [
        f"| {d.severity.value} | `{d.file}{f':{d.line}' if d.line else ''}` | "
        f"{f'`{d.field}`' if d.field else ''} | {_cell(d.message)} |"
        for d in diagnostics
    ]
    return ["| | file:line | field | problem |", "|---|---|---|---|", *rows, ""]


def _cell(text: str) -> str:
    """Text inside a markdown table cell: pipes escaped, line breaks as <br>."""
    return text.replace("|", "\\|").replace("\n", "<br>")


def _markdown_rows(result: SyncResult) -> list[str]:
    plan = result.plan
    rows = []
    for change in plan.changes if plan else ():
        if change.action is Action.NOOP:
            continue
        detail = "<br>".join(f"`{_item(item)}`" for item in change.diff) or (
            f"version `{change.desired.version}`" if change.desired else ""
        )
        rows.append(f"| {_VERB[change.action]} | `{change.id}` | {detail} |")
    owner = f"`{result.owner}`"
    rows += (
        [f"| conflict | `{i}` | exists but is not owned by {owner}; left untouched |" for i in plan.conflicts]
        if plan
        else []
    )
    rows += (
        [f"| frozen | `{i}` | its manifest is invalid; kept at its last applied state |" for i in plan.frozen]
        if plan
        else []
    )
    rows += [f"| failed | `{i}` | {m} |" for i, m in sorted(result.failures.items())]
    return rows


def result_json(result: SyncResult) -> dict[str, Any]:
    plan = result.plan
    return {
        "ok": result.ok,
        "owner": result.owner,
        "revision": result.revision,
        "ref": result.ref,
        "repository": result.repo_url,
        "path": result.path,
        "up_to_date": result.up_to_date,
        "applied": result.applied,
        "error": result.error,
        "warnings": list(result.warnings),
        "diagnostics": [d.to_json() for d in result.diagnostics],
        "conditions": [c.to_json() for c in result.conditions],
        "summary": plan.counts if plan else None,
        "changes": [_change_json(c) for c in plan.changes if c.action is not Action.NOOP] if plan else [],
        "conflicts": list(plan.conflicts) if plan else [],
        "frozen": list(plan.frozen) if plan else [],
        "refusals": list(plan.refusals) if plan else [],
        "failures": dict(result.failures),
    }


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "deployment": change.id,
        "cause": change.cause.value,
        "version": change.desired.version if change.desired else None,
        "diff": [{"path": d.path, "old": _plain(d.old), "new": _plain(d.new)} for d in change.diff],
    }


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)
