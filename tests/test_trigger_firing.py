"""Triggers firing on the embedded engine: a real registry and events file, the event pump with
its clock injected, and then a real ``up`` process that runs a downstream flow when its upstream
completes. Exactly one run per firing across replays, restarts and two engines; a trigger
that feeds itself is rate-limited and reported; plan refuses what the engine does not run."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.adapters.sqlite.events import SqliteEventStore
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.sqlite.state_feed import SqliteStateFeed
from controller.core.runs import StateType, iso
from controller.ports import EventFilter
from controller.runtime.events import EVALUATED, EventPump, EventSettings
from controller.services.events import Events, cause_of
from tests.cli_helpers import run_deployctl
from tests.controller_fixtures import ControllerProcess, request, wait_for
from tests.engine_helpers import Engine, make_engine
from tests.gitrepo import GitRepo
from tests.test_triggers import sample_repository
from tests.up_process import running_up

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FLOWS = (
    "def etl():\n    print('etl')\n\n"
    "def report(source=None, rows=None, whole=None):\n    print('report', source, rows)\n"
)
REPORT = """name: report
flow_name: report
entrypoint: flows.py:report
work_queue_name: default
parameters: {source: nobody}
triggers:
- match: {prefect.resource.id: "s3.bucket.*"}
  expect: [file.landed]
  parameters:
    source: "{{ event.resource.id }}"
    rows: "{{ event.payload.rows }}"
    whole: "{{ event }}"
- name: broken template
  enabled: true
  expect: [file.broken]
  parameters: {rows: "{{ event.payload.rows + 'a' }}"}
- name: switched off
  enabled: false
  expect: [file.landed]
"""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    etl = "name: etl\nflow_name: etl\nentrypoint: flows.py:etl\nwork_queue_name: default\n"
    return make_engine(
        tmp_path, {"flows.py": FLOWS, "etl-deployment.yaml": etl, "report-deployment.yaml": REPORT}
    )


def pump(engine: Engine, clock: Clock, **settings: object) -> EventPump:
    registry = engine.store.path
    return EventPump(
        SqliteStateFeed(registry),
        SqliteEventStore(registry.parent / "events.db"),
        SqliteRunStore(registry),
        EventSettings(**settings),  # type: ignore[arg-type]
        clock,
    )


def emit(engine: Engine, clock: Clock, name: str, resource: str, **extra: object) -> str:
    store = SqliteEventStore(engine.store.path.parent / "events.db")
    try:
        payload = extra.pop("payload", {"rows": 3})
        return Events(store, clock).emit(name, {"prefect.resource.id": resource}, payload=payload, **extra).id  # type: ignore[arg-type]
    finally:
        store.close()


def report_runs(engine: Engine) -> list[object]:
    return engine.store.list_runs("report/report", limit=1000)  # type: ignore[return-value]


def test_a_firing_creates_one_run_with_parameters_rendered_from_the_event(engine: Engine) -> None:
    clock = Clock()
    first = pump(engine, clock)
    first.tick()  # the first tick: triggers react to what is recorded from now on
    landed = emit(engine, clock, "file.landed", "s3.bucket.sales")
    emit(engine, clock, "file.landed", "ftp.somewhere")  # not matched
    tick = first.tick()
    assert (tick.fired, tick.suppressed) == (1, 0)
    (run,) = engine.store.list_runs("report/report")
    assert run.parameters["source"] == "s3.bucket.sales" and run.parameters["rows"] == 3
    assert run.parameters["whole"]["id"] == landed and run.parameters["whole"]["event"] == "file.landed"
    assert run.idempotency_key == f"trigger report/report:report__automation_1 {landed}"
    assert run.state_type is StateType.SCHEDULED and run.expected_start_time <= datetime.now(UTC).isoformat()
    (firing,) = first.events.firings("report/report:report__automation_1")
    assert (firing.event_id, firing.run_id, firing.outcome) == (landed, run.id, "run")
    first.close()


def test_replays_restarts_and_two_engines_never_double_a_run(engine: Engine) -> None:
    clock = Clock()
    engines = [pump(engine, clock) for _ in range(2)]
    engines[0].tick()
    event_id = emit(engine, clock, "file.landed", "s3.bucket.sales")
    emit(engine, clock, "file.landed", "s3.bucket.sales", event_id=event_id)  # replayed: stored once
    barrier = threading.Barrier(2)

    def tick(p: EventPump) -> None:
        barrier.wait()
        p.tick()

    threads = [threading.Thread(target=tick, args=(p,)) for p in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(report_runs(engine)) == 1

    # a restart that lost its place (the cursor rewound) evaluates the event again
    with engines[1].events.book() as book:
        book.set_cursor(EVALUATED, 0)
        book.put_bucket("report/report:report__automation_1", "[]", None)
    assert engines[1].tick().fired == 1, "it fires again ..."
    assert len(report_runs(engine)) == 1, "... onto the run made already (the idempotency key)"
    for p in engines:
        p.close()


def test_a_template_that_fails_is_recorded_and_creates_no_run(engine: Engine) -> None:
    clock = Clock()
    p = pump(engine, clock)
    p.tick()
    emit(engine, clock, "file.broken", "s3.bucket.sales")
    assert p.tick().fired == 0 and report_runs(engine) == []
    (firing,) = p.events.firings("report/report:broken template")
    assert firing.outcome == "template-error" and "unsupported operand" in firing.message
    p.close()


def test_a_trigger_that_fires_too_often_is_rate_limited_and_reported(engine: Engine) -> None:
    clock = Clock()
    p = pump(engine, clock, rate_limit=3)
    p.tick()
    for _ in range(5):
        emit(engine, clock, "file.landed", "s3.bucket.sales")
    tick = p.tick()
    assert (tick.fired, tick.suppressed) == (3, 2)
    assert len(report_runs(engine)) == 3
    reports = p.events.query(EventFilter(names=("deployctl.trigger.rate-limited",)))
    assert len(reports) == 2
    assert reports[0].resource_id == "deployctl.trigger.report/report:report__automation_1"
    assert reports[0].payload["limit"] == 3
    clock.now += timedelta(minutes=2)  # the window has passed: it fires again
    emit(engine, clock, "file.landed", "s3.bucket.sales")
    assert p.tick().fired == 1
    p.close()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Path]:
    repo = GitRepo(tmp_path / "repo")
    report = REPORT.replace(
        '- match: {prefect.resource.id: "s3.bucket.*"}\n  expect: [file.landed]',
        "- match: {prefect.resource.id: prefect.flow-run.*}\n"
        "  match_related: {prefect.resource.role: flow, prefect.resource.name: etl}\n"
        "  expect: [prefect.flow-run.Completed]",
    ).replace(
        '    rows: "{{ event.payload.rows }}"\n', '    rows: "{{ event.payload.validated_state.type }}"\n'
    )
    external = "name: external\nflow_name: report\nentrypoint: flows.py:report\ntriggers:\n" \
               "- expect: [file.landed]\n  parameters: {source: '{{ event.resource.id }}'}\n"  # fmt: skip
    repo.write(
        {
            "flows/flows.py": FLOWS,
            "flows/etl-deployment.yaml": "name: etl\nflow_name: etl\nentrypoint: flows.py:etl\n",
            "flows/report-deployment.yaml": report,
            "flows/external-deployment.yaml": external,
        }
    ).commit()
    home = tmp_path / "home"
    home.mkdir()
    with running_up(home, "../repo"):
        yield home


def runs_of(home: Path, deployment: str) -> list[dict[str, object]]:
    listed = run_deployctl(home, "flow-run", "ls", "--deployment", deployment, "-o", "json", cwd=home)
    return json.loads(listed.stdout)  # type: ignore[no-any-return]


def test_under_up_a_completed_upstream_runs_its_downstream_once(up: Path) -> None:
    home = up
    validated = run_deployctl(home, "validate", "../repo", cwd=home)
    assert "will not fire" not in validated.stdout + validated.stderr
    watched = run_deployctl(home, "deployment", "run", "etl/etl", "--watch", cwd=home)
    assert "finished: Completed" in watched.stdout, watched.stdout + watched.stderr
    etl_run = watched.stdout.split()[3]

    def report_completed() -> list[dict[str, object]] | None:
        runs = runs_of(home, "report/report")
        return runs if runs and runs[0]["state"] == "Completed" else None

    (report,) = wait_for(report_completed, timeout=60, what="the triggered report run")
    inspected = json.loads(run_deployctl(home, "flow-run", "inspect", str(report["id"]), cwd=home).stdout)
    assert inspected["parameters"]["source"] == f"prefect.flow-run.{etl_run}"
    assert inspected["parameters"]["whole"]["event"] == "prefect.flow-run.Completed"
    logs = run_deployctl(home, "flow-run", "logs", str(report["id"]), cwd=home).stdout
    assert f"report prefect.flow-run.{etl_run} COMPLETED" in logs

    emitted = run_deployctl(home, "event", "emit", "file.landed", "--resource", "prefect.resource.id=s3.x",
                            cwd=home)  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr
    external = wait_for(lambda: runs_of(home, "report/external"), timeout=30, what="the external event's run")
    assert len(external) == 1
    assert len(runs_of(home, "report/report")) == 1, "the report's own completion does not match etl"


def test_the_samples_trigger_based_deployment_runs_after_daily_and_shows_why(tmp_path: Path) -> None:
    """The sample repository under ``up``: my_flow/daily completes, my_flow/trigger-based runs
    with the upstream run's name, and ``flow-run inspect`` names the trigger and the event."""
    sample_repository(tmp_path / "sample")
    home = tmp_path / "home"
    home.mkdir()
    with running_up(home, "../sample"):
        before = run_deployctl(home, "deployment", "inspect", "my_flow/trigger-based", cwd=home).stdout
        assert "trigger trigger-based__automation_1: never fired" in before
        watched = run_deployctl(home, "deployment", "run", "my_flow/daily", "--watch", cwd=home)
        assert "finished: Completed" in watched.stdout, watched.stdout + watched.stderr
        daily = json.loads(
            run_deployctl(home, "flow-run", "inspect", watched.stdout.split()[3], cwd=home).stdout
        )

        def triggered() -> list[dict[str, object]] | None:
            runs = runs_of(home, "my_flow/trigger-based")
            return runs if runs and runs[0]["state"] == "Completed" else None

        (run,) = wait_for(triggered, timeout=60, what="the trigger-based run")
        inspected = json.loads(run_deployctl(home, "flow-run", "inspect", str(run["id"]), cwd=home).stdout)
    assert inspected["parameters"]["name"] == f"watchers of {daily['name']}"
    cause = inspected["triggered_by"]
    assert cause["trigger"] == "my_flow/trigger-based:trigger-based__automation_1"
    assert cause["event"]["event"] == "prefect.flow-run.Completed"
    assert cause["event"]["resource"]["prefect.resource.id"] == f"prefect.flow-run.{daily['id']}"
    assert "triggered_by" not in daily, "a run made by hand has no cause to show"
    logs = run_deployctl(home, "flow-run", "logs", str(run["id"]), cwd=home).stdout
    assert f"hello watchers of {daily['name']}" in logs
    shown = run_deployctl(home, "deployment", "inspect", "my_flow/trigger-based", "-o", "json", cwd=home)
    last = json.loads(shown.stdout)["last_firings"]["trigger-based__automation_1"]
    assert (last["run_id"], last["event_id"], last["outcome"]) == (run["id"], cause["event"]["id"], "run")
    text = run_deployctl(home, "deployment", "inspect", "my_flow/trigger-based", cwd=home).stdout
    assert f"on event {cause['event']['id']}: flow run {run['id']}" in text
    assert "last_firings" not in run_deployctl(home, "deployment", "inspect", "my_flow/daily", "-o", "json",
                                               cwd=home).stdout, "a deployment without triggers"  # fmt: skip


def test_an_event_posted_to_the_controller_runs_the_deployment_its_engine_triggers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPLOYCTL_EVENTS_TOKEN", "t0ken")
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "flows/flows.py": FLOWS,
            "flows/report-deployment.yaml": "name: report\nflow_name: report\nentrypoint: flows.py:report\n"
            "triggers:\n- expect: [file.landed]\n  parameters: {rows: '{{ event.payload.rows }}'}\n",
        }
    ).commit()
    home = tmp_path / "home" / ".deployctl"
    controller = ControllerProcess(str(repo.root), home, "--interval", "60")
    try:
        wait_for(lambda: controller.get("/readyz") == (200, "ready\n"), what="the first pass")
        body = {"event": "file.landed", "resource": {"prefect.resource.id": "s3.x"}, "payload": {"rows": 7}}
        status, _ = request(
            controller.url + "/api/events", json.dumps(body).encode(), {"X-Deployctl-Token": "t0ken"}
        )
        assert status == 202

        def completed() -> list[dict[str, object]] | None:
            runs = runs_of(home.parent, "report/report")
            return runs if runs and runs[0]["state"] == "Completed" else None

        (run,) = wait_for(completed, timeout=60, what="the triggered run")
        inspected = json.loads(
            run_deployctl(home.parent, "flow-run", "inspect", str(run["id"]), cwd=tmp_path).stdout
        )
        assert inspected["parameters"] == {"rows": 7}
        assert inspected["triggered_by"]["event"]["payload"] == {"rows": 7}
    finally:
        assert controller.terminate() == 0


def test_the_pump_prunes_by_its_retention_settings(engine: Engine) -> None:
    clock = Clock()
    p = pump(engine, clock, retention=timedelta(days=1), max_events=2)
    for hours in (50, 30, 3, 2, 1):
        emit(engine, clock, "tick", "r", occurred=(T0 - timedelta(hours=hours)).isoformat())
    assert p.prune() == 3, "two older than a day, then one beyond the count"
    kept = p.events.query(EventFilter(limit=10))
    assert [e.occurred for e in kept] == [
        (T0 - timedelta(hours=h)).isoformat(timespec="microseconds") for h in (1, 2)
    ]
    p.close()


PROACTIVE = """name: watchdog
flow_name: report
entrypoint: flows.py:report
triggers:
- name: no heartbeat
  posture: Proactive
  match: {prefect.resource.id: "pump.1"}
  expect: [heartbeat]
  within: 60
  parameters: {source: "silence"}
"""


def test_a_proactive_trigger_fires_once_per_silent_window_across_restarts(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"flows.py": FLOWS, "watchdog-deployment.yaml": PROACTIVE})
    clock = Clock()
    first = pump(engine, clock)
    first.tick()  # opens the first window, [T0, T0 + 60 s)
    clock.now = T0 + timedelta(seconds=30)
    emit(engine, clock, "heartbeat", "pump.1")
    first.tick()
    clock.now = T0 + timedelta(seconds=61)
    assert first.tick().fired == 0, "a heartbeat came in the first window, which is dropped"
    clock.now = T0 + timedelta(seconds=122)  # as Prefect: the next window opens a `within` later
    assert first.tick().fired == 0
    clock.now = T0 + timedelta(seconds=183)  # and passes in silence
    assert first.tick().fired == 1
    restarted = pump(engine, clock)  # looks at once: the window it would fire was fired already
    assert restarted.tick().fired == 0
    assert first.tick().fired == 0
    (run,) = engine.store.list_runs("report/watchdog")
    assert run.parameters == {"source": "silence"}
    assert (
        run.idempotency_key
        == f"trigger report/watchdog:no heartbeat window [] {iso(T0 + timedelta(seconds=122))}"
    )
    cause = cause_of(None, run.idempotency_key or "")
    assert cause == {
        "trigger": "report/watchdog:no heartbeat",
        "window": f"[] {iso(T0 + timedelta(seconds=122))}",
    }
    for p in (first, restarted):
        p.close()
