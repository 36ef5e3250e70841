"""What a finished pass says to the outside: its one-line reason, and the notice it sends.

``notify_pass`` is called where a pass ends, by CI's ``sync`` and by the controller loop (each
pass and each drift pass); it reduces the ``SyncResult`` to a ``PassReport``, lets the pure
``decide_notice`` compare it with the last notice of the owner, and queues what it decides on
the ``Notifier`` port, which returns at once. ``notify_writing`` is called by the reconcile
pass (wired by ``controller.app``) when it begins to build and write a plan with changes: the
forges show that commit pending until ``notify_pass`` ends it. ``error_line`` is the one line a
failed or refused pass prints on stderr, and what its notice says.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from controller.core.diagnostics import Severity, first_problem
from controller.core.notices import Notice, PassReport, applying_notice, decide_notice, hold_notice
from controller.core.state import ConditionType
from controller.engine.reconciler import SyncResult
from controller.errors import DeployctlError
from controller.ports import Notifier

log = logging.getLogger("deployctl.notify")


def notify_pass(notifier: Notifier, result: SyncResult, outcome: str, drift: bool = False) -> Notice | None:
    """Queue the notice of this pass, if any; never raises (a pass is done whatever happens here)."""
    try:
        report = pass_report(result, outcome, drift)
        notice = decide_notice(report, notifier.last_sent(result.owner))
        if notice is not None:
            notifier.send(notice)
        elif (ending := decide_notice(report, None)) is not None:
            notifier.settle(ending)  # said before: only a commit status left pending hears it
        return notice
    except (DeployctlError, OSError) as exc:
        log.warning("cannot send the notice of the pass on %s: %s", (result.revision or "?")[:12], exc)
        return None


def notify_writing(notifier: Notifier, result: SyncResult) -> None:
    """Queue the pending commit status of a pass that begins to write ``result.plan``; never raises."""
    try:
        counts = result.plan.counts if result.plan is not None else {}
        message = ", ".join(f"{counts.get(a, 0)} to {a}" for a in ("create", "update", "delete"))
        notifier.applying(applying_notice(replace(pass_report(result, "applying"), message=message)))
    except (DeployctlError, OSError) as exc:
        log.warning("cannot set %s pending: %s", (result.revision or "?")[:12], exc)


def notify_hold(
    notifier: Notifier, owner: str, revision: str, held: bool, head: str | None, where: tuple[str, str, str]
) -> None:
    """Say that a rollback held ``owner`` at ``revision``, or that ``release`` let it go; never
    raises. ``head``: the commit the ref names now; ``where``: repository, ref and path."""
    if held:
        message = f"held at {revision[:12]} by a rollback" + (f"; HEAD is {head[:12]}" if head else "")
        message += f" (deployctl release {owner} to follow the ref again)"
    else:
        message = f"released from {revision[:12]}: the ref is followed again"
    try:
        notifier.send(hold_notice(owner, revision, held, message, where))
    except (DeployctlError, OSError) as exc:
        log.warning("cannot send the notice of the hold of %s: %s", owner, exc)


def notify_ci_pass(notifier: Notifier, result: SyncResult) -> Notice | None:
    """``notify_pass`` for a one-shot ``sync``: the outcome is the controller's own class of it."""
    from controller.runtime.controlling.policy import classify

    return notify_pass(notifier, result, classify(result).value)


def pass_report(result: SyncResult, outcome: str, drift: bool = False) -> PassReport:
    plan = result.plan
    return PassReport(
        owner=result.owner,
        revision=result.revision,
        outcome=outcome,
        repository=result.repo_url,
        ref=result.ref,
        path=result.path,
        changes=(plan.writes - len(result.failures)) if plan is not None and result.applied else 0,
        drift=drift,
        reason=next((c.reason.value for c in result.conditions if c.type is ConditionType.STALLED), ""),
        message=error_line(result) or _applied_line(result),
        details=tuple(str(d) for d in result.diagnostics if d.severity is Severity.ERROR),
    )


def _applied_line(result: SyncResult) -> str:
    plan = result.plan
    if plan is None:
        return ""
    counts = plan.counts
    return f"{counts['create']} created, {counts['update']} updated, {counts['delete']} deleted"


def error_line(result: SyncResult) -> str | None:
    """The one line a pass that failed or was refused prints on stderr, whatever the output
    format: what went wrong and, for invalid manifests, the first problem with its place.
    None when the pass succeeded."""
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if result.ok and not errors:
        return None
    ready = (c for c in result.conditions if c.type is ConditionType.READY)
    unready = next((c.message for c in ready if not c.status), None)
    message = (
        result.error
        or (unready or f"{len(result.failures)} deployment(s) failed" if result.failures else None)
        or (f"{len(errors)} problem(s) in the manifests" if errors else None)
        or unready
        or "the pass did not succeed"
    )
    first = first_problem(errors)
    line = f"{message}: {first}" if first and first not in message else message  # a refusal names it
    return " ".join(line.splitlines())  # one line, whatever a message holds
