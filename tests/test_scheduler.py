"""The scheduler pass on a real registry: filling ahead, idempotency, changes, pause, late runs."""

from __future__ import annotations

import logging
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from controller.adapters.sqlite.runs import SqliteRunStore
from controller.app import open_registry
from controller.core.runs import StateType, iso
from controller.runtime.scheduler import schedule_once
from tests.engine_helpers import NOW, make_engine, manifest

FLOWS = "def hello(name='world'):\n    print('hello', name)\n"
HOURLY = manifest("hourly", "hello", "parameters: {name: a}\nschedules:\n- schedule: {cron: '0 * * * *'}\n")
DAILY = manifest("daily", "hello", "schedule: {cron: '0 9 * * *', timezone: Europe/Berlin}\n")


def scheduled(store: SqliteRunStore, deployment: str) -> list[tuple[str, str]]:
    return sorted((r.expected_start_time, r.id) for r in store.list_runs(deployment, "SCHEDULED", 500))


def test_fills_at_least_three_runs_and_an_hour_then_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(
        tmp_path,
        {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY, "b/flows.py": FLOWS, "b/deployment.yaml": DAILY},
    )
    first = schedule_once(engine.store, NOW)
    hourly = scheduled(engine.store, "hourly/hourly")
    daily = scheduled(engine.store, "daily/daily")
    assert [t for t, _ in hourly] == [iso(NOW + timedelta(hours=h)) for h in range(3)]
    assert [t[:16] for t, _ in daily] == ["2026-06-02T07:00", "2026-06-03T07:00", "2026-06-04T07:00"]
    assert first.created == 6
    again = schedule_once(engine.store, NOW)
    assert again.created == 0 and scheduled(engine.store, "hourly/hourly") == hourly
    run = engine.store.get(hourly[0][1])
    assert run is not None and run.parameters == {"name": "a"} and run.auto_scheduled
    assert run.idempotency_key == f"scheduled hourly/hourly schedule-0 {iso(NOW)}"


def test_two_schedulers_at_once_never_double_a_run(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY})
    stores = [SqliteRunStore(engine.store.path) for _ in range(4)]
    barrier = threading.Barrier(len(stores))

    def tick(store: SqliteRunStore) -> None:
        barrier.wait()
        schedule_once(store, NOW)

    threads = [threading.Thread(target=tick, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = [t for t, _ in scheduled(engine.store, "hourly/hourly")]
    assert times == sorted(set(times)) and len(times) == 3


def test_schedule_change_replaces_future_runs_version_change_keeps_them(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY})
    schedule_once(engine.store, NOW)
    before = scheduled(engine.store, "hourly/hourly")
    engine.repo.write({"a/flows.py": FLOWS + "# new version\n"}).commit("code only")
    engine.sync()
    kept = scheduled(engine.store, "hourly/hourly")
    assert kept == before, "a new version keeps the scheduled runs"
    new_snapshot = engine.store.deployment_snapshot("hourly/hourly")
    assert new_snapshot is not None
    assert {engine.run(i).snapshot for _, i in kept} == {new_snapshot[0]}, (
        "and points them at the new version"
    )
    engine.repo.write({"a/deployment.yaml": HOURLY.replace("0 * * * *", "30 * * * *")}).commit("new schedule")
    engine.sync()
    assert scheduled(engine.store, "hourly/hourly") == []
    schedule_once(engine.store, NOW)
    assert [t[11:16] for t, _ in scheduled(engine.store, "hourly/hourly")] == ["12:30", "13:30", "14:30"]


def test_pause_removes_future_runs_and_resume_recreates_them(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY})
    schedule_once(engine.store, NOW)
    registry = open_registry(engine.settings)

    def pause(record: dict) -> None:  # type: ignore[type-arg]
        record["schedules"][0]["active"] = False

    registry.edit_record("hourly/hourly", pause)
    assert scheduled(engine.store, "hourly/hourly") == []
    assert schedule_once(engine.store, NOW).created == 0
    engine.sync()  # git says active: the sync restores it, as drift
    assert schedule_once(engine.store, NOW).created == 3


def test_missed_runs_are_not_backfilled_unless_catchup(tmp_path: Path) -> None:
    settings_file = ".deployctl.yaml"
    engine = make_engine(
        tmp_path,
        {
            "a/flows.py": FLOWS,
            "a/deployment.yaml": HOURLY,
            "b/flows.py": FLOWS,
            "b/deployment.yaml": HOURLY.replace("hourly", "caught"),
            settings_file: "deployments:\n  caught/caught: {catchup: true}\n",
        },
    )
    schedule_once(engine.store, NOW)
    later = NOW + timedelta(hours=10)
    for run in engine.store.list_runs(state="SCHEDULED", limit=100):
        engine.store.set_state(run.id, StateType.COMPLETED, "Completed", iso(NOW))
    schedule_once(engine.store, later)
    plain = [r.expected_start_time for r in engine.store.list_runs("hourly/hourly", "SCHEDULED", 100)]
    caught = [r.expected_start_time for r in engine.store.list_runs("caught/caught", "SCHEDULED", 100)]
    assert min(plain) == iso(later)
    assert min(caught) == iso(NOW + timedelta(hours=3)), "catch-up creates the missed runs from the last one"


def test_runs_not_started_within_the_grace_period_are_late(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY})
    schedule_once(engine.store, NOW)
    result = schedule_once(engine.store, NOW + timedelta(minutes=5))
    assert result.late == 1
    (late,) = engine.store.list_runs("hourly/hourly", "Late", 10)
    assert late.expected_start_time == iso(NOW) and late.state_type is StateType.SCHEDULED


def test_a_schedule_that_cannot_be_evaluated_never_stops_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(
        tmp_path,
        {"a/flows.py": FLOWS, "a/deployment.yaml": HOURLY, "b/flows.py": FLOWS, "b/deployment.yaml": DAILY},
    )
    # a row no loader would write (an older or hand-edited registry): the cron cannot be parsed
    with sqlite3.connect(tmp_path / "state" / "registry.db") as db:
        updated = db.execute(
            "UPDATE schedules SET definition = json_set(definition, '$.cron', 'not a cron') "
            "WHERE deployment_id = 'daily/daily'"
        ).rowcount
    assert updated == 1
    with caplog.at_level(logging.WARNING, logger="deployctl.scheduler"):
        result = schedule_once(engine.store, NOW)
    assert result.failed == ("daily/daily schedule-0",)
    assert len(scheduled(engine.store, "hourly/hourly")) == 3 and result.created == 3
    assert scheduled(engine.store, "daily/daily") == []
    assert "schedule schedule-0 of daily/daily cannot be evaluated" in caplog.text
