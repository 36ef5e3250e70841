"""Triggers checked for the registry that will run them, at plan time, at their file and line.

A trigger of a kind the backend's engine does not run (``Capabilities.trigger_kinds``; the
embedded engine runs Reactive event triggers) is an error naming the kind, never a silent
drop; a parameter template that does not parse in Jinja is an error on every backend, since
it would fail at each firing. A deployment with such a trigger is refused like any invalid
manifest. Called by ``controller.engine.desired`` and ``services.syncing.validate_folder``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from controller.core.diagnostics import Diagnostic
from controller.core.spec import DeploymentSpec
from controller.core.triggers import TRIGGER_KINDS, trigger_kind
from controller.loading.loader import LoadResult, diagnostic_at
from controller.loading.tree import SourceTree


def check_triggers(result: LoadResult, tree: SourceTree, kinds: frozenset[str] | None) -> LoadResult:
    """``result`` with every trigger the backend cannot run refused (``kinds``: those it runs;
    None: all) and every parameter template that does not parse."""
    added = [d for spec in result.specs.values() for d in _problems(tree, spec, kinds)]
    if not added:
        return result
    broken = result.broken_files | {d.file for d in added}
    specs = {i: s for i, s in result.specs.items() if s.source.file not in broken}
    return replace(
        result, specs=specs, diagnostics=tuple(sorted((*result.diagnostics, *added))), broken_files=broken
    )


def _problems(tree: SourceTree, spec: DeploymentSpec, kinds: frozenset[str] | None) -> Iterator[Diagnostic]:
    if not spec.triggers:
        return
    from controller.core.event_templates import check_templates  # jinja2, only where there are triggers

    for position, record in enumerate(spec.triggers):
        kind = trigger_kind(record)
        if kinds is not None and kind not in kinds:
            runs = ", ".join(TRIGGER_KINDS[k] for k in sorted(kinds)) or "no triggers"
            message = (
                f"{TRIGGER_KINDS[kind]} do not run on this registry (it runs {runs}): change the trigger, "
                "remove it, or sync to a Prefect server (prefect+http://…), where it becomes an automation"
            )
            yield diagnostic_at(tree, spec, ("triggers", position), message, "trigger-unsupported")
        for path, problem in check_templates(record.get("parameters")):
            field = ("triggers", position, "parameters", *path)
            yield diagnostic_at(tree, spec, field, problem, "trigger-template")
