"""Conditions of a pass, Flux-style: Ready, or Stalled with a reason saying what to do next. Pure."""

from __future__ import annotations

from collections.abc import Collection

from controller.core.state import Condition, ConditionType, Reason


def ready(message: str = "applied") -> tuple[Condition, ...]:
    return (Condition(ConditionType.READY, True, Reason.SUCCEEDED, message),)


def stalled(reason: Reason, message: str) -> tuple[Condition, ...]:
    return (
        Condition(ConditionType.READY, False, reason, message),
        Condition(ConditionType.STALLED, True, reason, message),
    )


def is_ready(conditions: tuple[Condition, ...]) -> bool:
    return any(c.type is ConditionType.READY and c.status for c in conditions)


def applied_count(writes: int, failures: Collection[str]) -> str:
    """``Applied 2 of 7; 5 failed``: what the registry now holds, never what was planned."""
    return f"Applied {writes - len(failures)} of {writes}; {len(failures)} failed"


def after_apply(
    conditions: tuple[Condition, ...], writes: int, failures: Collection[str]
) -> tuple[Condition, ...]:
    """The conditions of a pass once its writes are done: the planned ones when every write
    succeeded, else not Ready, naming the deployments whose writes failed (retried next pass)."""
    if not failures:
        return conditions
    names = sorted(failures)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return stalled(Reason.APPLY_FAILED, f"{applied_count(writes, failures)}: {shown}")
