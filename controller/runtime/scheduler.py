"""The scheduler pass: keep scheduled runs ahead for every active schedule. ``schedule_once``.

One pass per call, no loop and no clock: the caller passes ``now`` (the ``deployctl
scheduler`` / ``up`` loop ticks it with APScheduler). Each schedule keeps at least
``min_runs`` runs and ``min_horizon`` ahead, at most ``max_runs`` or ``max_horizon``. Runs
carry the idempotency key ``scheduled <deployment> <slug> <time>``, so a double tick, a
restart or two schedulers on one database never double a run. Missed runs are not
back-filled unless the deployment's run policy says ``catchup``. Runs due but not started
within ``late_after`` are marked Late. A schedule that cannot be evaluated is logged and
skipped; the others are filled as usual.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.core.runs import idempotency_key, iso, layered_parameters, schedule_slug
from controller.core.schedule_times import iter_times
from controller.core.spec import ScheduleKind, ScheduleSpec
from controller.ports import ActiveSchedule, NewRun, ScheduleStore

log = logging.getLogger("deployctl.scheduler")


@dataclass(frozen=True)
class SchedulerPolicy:
    min_runs: int = 3
    min_horizon: timedelta = timedelta(hours=1)
    max_runs: int = 100
    max_horizon: timedelta = timedelta(days=100)
    late_after: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class SchedulePass:
    created: int
    late: int
    schedules: int
    refilled: int
    failed: tuple[str, ...] = ()  # "deployment slug" of each schedule that could not be evaluated


def schedule_once(
    store: ScheduleStore, now: datetime, policy: SchedulerPolicy = SchedulerPolicy()
) -> SchedulePass:
    horizon = store.horizon(iso(now))
    active = store.active_schedules()
    wanting = [s for s in active if not _satisfied(horizon.get((s.deployment_id, _slug(s))), now, policy)]
    parameters = store.deployment_parameters({s.snapshot for s in wanting})
    runs, failed = [], []
    for schedule in wanting:
        try:
            runs += _runs_for(store, schedule, parameters[schedule.snapshot], now, policy)
        except Exception as exc:  # noqa: BLE001 - one broken schedule must not stop the others
            failed.append(f"{schedule.deployment_id} {_slug(schedule)}")
            log.warning(
                "schedule %s of %s cannot be evaluated, skipped this pass: %s",
                _slug(schedule),
                schedule.deployment_id,
                exc,
            )
    created = store.insert_runs(runs, iso(now)) if runs else 0
    late = store.mark_late(iso(now - policy.late_after), iso(now))
    return SchedulePass(created, late, len(active), len(wanting), tuple(failed))


def _slug(schedule: ActiveSchedule) -> str:
    return schedule_slug(schedule.slug, schedule.position)


def _satisfied(existing: tuple[int, str] | None, now: datetime, policy: SchedulerPolicy) -> bool:
    if existing is None:
        return False
    count, latest = existing
    return count >= policy.max_runs or (count >= policy.min_runs and latest >= iso(now + policy.min_horizon))


def _runs_for(
    store: ScheduleStore,
    schedule: ActiveSchedule,
    deployment_parameters: dict[str, object],
    now: datetime,
    policy: SchedulerPolicy,
) -> list[NewRun]:
    spec = _spec(schedule.definition)
    slug = _slug(schedule)
    start = now
    if schedule.catchup:
        latest = store.latest_scheduled(schedule.deployment_id, slug)
        start = (
            datetime.fromisoformat(latest) + timedelta(microseconds=1)
            if latest
            else datetime.fromisoformat(schedule.created_at)
        )
        start = min(start, now)
    wanted: list[datetime] = []
    future = 0
    for moment in iter_times(spec, start):
        if moment >= now + policy.max_horizon or len(wanted) >= policy.max_runs:
            break
        if moment >= now:
            if future >= policy.min_runs and moment > now + policy.min_horizon:
                break
            future += 1
        wanted.append(moment)
    parameters = layered_parameters(deployment_parameters, spec.parameters)
    return [
        NewRun(
            schedule.deployment_id,
            schedule.flow_name,
            schedule.snapshot,
            parameters,
            schedule.work_queue_name,
            iso(moment),
            idempotency_key(schedule.deployment_id, slug, moment),
            slug,
            auto_scheduled=True,
        )
        for moment in wanted
    ]


def _spec(definition: str) -> ScheduleSpec:
    data = json.loads(definition)
    return ScheduleSpec(**{**data, "kind": ScheduleKind(data["kind"])})
