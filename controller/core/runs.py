"""Flow runs: their states, the idempotency key of scheduled runs, and parameter layering. Pure.

States follow Prefect: a state has a type (the closed set below) and a name (Scheduled,
Late, AwaitingRetry, Pending, Running, Retrying, Completed, Failed, TimedOut, Cancelling,
Cancelled, Crashed). Used by the scheduler, the runner and the CLI.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any


class StateType(enum.Enum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"

    @property
    def terminal(self) -> bool:
        return self in (StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED)


ACTIVE = (StateType.PENDING, StateType.RUNNING, StateType.CANCELLING)
RUNNER_HEARTBEAT_TIMEOUT = timedelta(seconds=20)
"""A runner silent for longer is gone: its runs are crashed, and it serves no queue."""


@dataclass(frozen=True)
class FlowRun:
    id: str
    deployment_id: str
    flow_name: str
    name: str
    state_type: StateType
    state_name: str
    state_message: str
    expected_start_time: str
    parameters: dict[str, Any]
    work_queue_name: str
    snapshot: str
    auto_scheduled: bool = False
    schedule_slug: str | None = None
    idempotency_key: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    run_count: int = 0
    runner_id: str | None = None
    pid: int | None = None
    tags: tuple[str, ...] = ()

    @property
    def state(self) -> State:
        return State(self.state_type, self.state_name, self.state_message)

    @property
    def finished(self) -> bool:
        return self.state_type.terminal

    @property
    def waiting(self) -> bool:
        """Not yet taken by a runner."""
        return self.state_type is StateType.SCHEDULED


@dataclass(frozen=True)
class State:
    """A run's state as Prefect's ``State`` shows it: ``name``, ``type``, ``message`` and predicates."""

    type: StateType
    name: str
    message: str = ""

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_final(self) -> bool:
        return self.type.terminal


def iso(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds: the one time format stored, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def schedule_slug(slug: str | None, position: int) -> str:
    return slug or f"schedule-{position}"


def idempotency_key(deployment_id: str, slug: str, moment: datetime) -> str:
    return f"scheduled {deployment_id} {slug} {iso(moment)}"


def layered_parameters(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Deployment parameters, overlaid by the schedule's, overlaid by the run's."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged |= dict(layer or {})
    return merged
