"""Conditions of a pass, Flux-style: Ready, or Stalled with a reason saying what to do next. Pure."""

from __future__ import annotations

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
