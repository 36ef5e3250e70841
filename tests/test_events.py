"""Events of the embedded engine, as people meet them: ``event emit``/``event ls`` as processes
with only HOME set, a real ``up`` recording every state change of a run, ``POST /api/events``
on a real controller's port, retention on a real SQLite file, and two engines publishing once."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.adapters.sqlite.events import SqliteEventStore
from controller.adapters.sqlite.runs import SqliteRunStore
from controller.adapters.sqlite.state_feed import SqliteStateFeed
from controller.app import App
from controller.core.events import Event, EventError, parse_event, resource_matches
from controller.core.runs import StateType, iso
from controller.errors import ConfigError
from controller.ports import EventFilter, NewRun
from controller.runtime.events import EventPump
from controller.settings import Settings
from tests.cli_helpers import invoke, one_clear_line, run_deployctl
from tests.controller_fixtures import ControllerProcess, request, wait_for
from tests.engine_helpers import make_engine, manifest
from tests.gitrepo import GitRepo, repository
from tests.test_controller_http import raw
from tests.up_process import running_up

NOW = "2026-06-01T12:00:00.000000+00:00"


def ls(home: Path, *args: str, cwd: Path) -> list[dict[str, object]]:
    done = run_deployctl(home, "event", "ls", "-o", "json", *args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_emit_and_ls_filter_by_name_resource_and_time(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    for name, resource, occurred in [
        ("sales.file.landed", "s3.bucket.sales", "2026-06-01T09:00:00Z"),
        ("sales.file.checked", "s3.bucket.sales", "2026-06-01T10:00:00+02:00"),
        ("hr.file.landed", "s3.bucket.hr", "2026-06-01T11:00:00Z"),
    ]:
        done = run_deployctl(
            home,
            "event",
            "emit",
            name,
            "--resource",
            f"prefect.resource.id={resource}",
            "--resource",
            "prefect.resource.name=landing zone",
            "--related",
            "prefect.resource.id=team.data,prefect.resource.role=owner",
            "--payload",
            '{"rows": 3}',
            "--occurred",
            occurred,
            cwd=elsewhere,
        )
        assert done.returncode == 0, done.stderr
        assert f"event {name} " in done.stdout and f"recorded for {resource}" in done.stdout
    assert (home / ".deployctl" / "events.db").is_file(), "beside the default registry"

    everything = ls(home, cwd=elsewhere)
    assert [e["event"] for e in everything] == ["hr.file.landed", "sales.file.landed", "sales.file.checked"]
    first = everything[-1]
    assert first["occurred"] == "2026-06-01T08:00:00.000000+00:00", "kept in UTC"
    assert first["resource"] == {
        "prefect.resource.id": "s3.bucket.sales",
        "prefect.resource.name": "landing zone",
    }
    assert first["related"] == [{"prefect.resource.id": "team.data", "prefect.resource.role": "owner"}]
    assert first["payload"] == {"rows": 3} and len(str(first["id"])) == 36

    assert [e["event"] for e in ls(home, "--resource", "s3.bucket.hr", cwd=elsewhere)] == ["hr.file.landed"]
    assert len(ls(home, "--resource", "s3.bucket.*", cwd=elsewhere)) == 3
    assert len(ls(home, "--event", "sales.*", cwd=elsewhere)) == 2
    named = ls(home, "--event", "hr.file.landed", "--event", "sales.file.checked", cwd=elsewhere)
    assert [e["event"] for e in named] == ["hr.file.landed", "sales.file.checked"]
    window = ls(home, "--since", "2026-06-01T08:30:00Z", "--until", "2026-06-01T10:00:00Z", cwd=elsewhere)
    assert [e["event"] for e in window] == ["sales.file.landed"]
    assert ls(home, "--since", "1h", cwd=elsewhere) == [], "an age: that long before now"
    assert len(ls(home, "--limit", "1", cwd=elsewhere)) == 1

    table = run_deployctl(home, "event", "ls", "--resource", "s3.bucket.hr", cwd=elsewhere).stdout
    assert table.splitlines()[0].split() == ["OCCURRED", "EVENT", "RESOURCE", "ID"]
    assert "hr.file.landed  s3.bucket.hr" in table


def test_the_events_file_sits_beside_a_registry_named_by_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "work").mkdir(), home.mkdir()
    args = ("--registry", "sqlite:///state/registry.db")
    emitted = run_deployctl(home, "event", "emit", "x.y", "--resource", "prefect.resource.id=r", *args,
                            cwd=tmp_path / "work")  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr
    assert (tmp_path / "work" / "state" / "events.db").is_file()
    assert not (home / ".deployctl" / "events.db").exists()


R = ["emit", "x", "--resource", "prefect.resource.id=r"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["emit", "x", "--resource", "name=r"], "prefect.resource.id is required"),
        (["emit", "x", "--resource", "prefect.resource.id"], "write LABEL=VALUE"),
        ([*R, "--payload", "{rows"], "--payload: not JSON"),
        ([*R, "--payload", "[1]"], "--payload: a JSON object"),
        ([*R, "--related", "prefect.resource.id=u"], "prefect.resource.role is required"),
        ([*R, "--occurred", "09:00"], "not an ISO-8601 time"),
        ([*R, "--occurred", "2026-01-01T09:00:00"], "no time zone"),
        ([*R, "--id", "seven"], "is not a UUID"),
        (["ls", "--since", "yesterday"], "is not a time"),
    ],
)  # fmt: skip
def test_a_bad_event_is_one_clear_line(tmp_path: Path, args: list[str], says: str) -> None:
    line = one_clear_line(invoke(tmp_path, "event", *args))
    assert line.startswith("error: ") and says in line, line
    assert ls(tmp_path, cwd=tmp_path) == [], "nothing stored"


def test_event_commands_refuse_a_prefect_registry(tmp_path: Path) -> None:
    line = one_clear_line(invoke(tmp_path, "--registry", "prefect+http://127.0.0.1:9/api", "event", "ls"))
    assert "only with the embedded registry" in line


def test_an_event_id_given_twice_is_stored_once(tmp_path: Path) -> None:
    event_id = "0b7c5a57-1b1e-4c47-8f2f-5d8a1c7c9e01"
    for _ in range(2):
        assert invoke(tmp_path, "event", "emit", "a.b", "--resource", "prefect.resource.id=r", "--id",
                      event_id).exit_code == 0  # fmt: skip
    assert [e["id"] for e in ls(tmp_path, cwd=tmp_path)] == [event_id]


def test_parse_event_is_prefects_shape() -> None:
    event = parse_event({"event": "a.b", "resource": {"prefect.resource.id": "r"}}, "id-1", NOW)
    assert (event.id, event.occurred, event.related, event.payload) == ("id-1", NOW, (), {})
    for bad, says in [
        ([], "a JSON object"),
        ({"event": "", "resource": {"prefect.resource.id": "r"}}, "event: a name"),
        ({"event": "a", "resource": {"prefect.resource.id": 3}}, "string labels"),
        ({"event": "a", "resource": {"prefect.resource.id": "r"}, "colour": 1}, r"unknown field\(s\) colour"),
        ({"event": "a", "resource": {"prefect.resource.id": "r"}, "related": {}}, "related: a list"),
    ]:
        with pytest.raises(EventError, match=says):
            parse_event(bad, "id", NOW)
    labels = {"prefect.resource.id": "prefect.flow-run.1", "prefect.resource.name": "x"}
    assert resource_matches({"prefect.resource.id": "prefect.flow-run.*"}, labels)
    assert resource_matches({"prefect.resource.name": ["y", "x"]}, labels)
    assert not resource_matches({"prefect.resource.name": "!x"}, labels)
    assert not resource_matches({"prefect.resource.role": "flow"}, labels)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "flows/flows.py": "def hello(name='world'):\n    print('hello', name)\n",
            "flows/hello-deployment.yaml": "name: hello\nflow_name: hello\nentrypoint: flows.py:hello\n"
            "tags: [nightly]\n",
        }
    ).commit()
    home = tmp_path / "home"
    home.mkdir()
    with running_up(home, "../repo", grace=1) as process:
        yield home, process


def test_up_records_an_event_for_every_state_change_of_a_run(up: tuple[Path, subprocess.Popen[str]]) -> None:
    home, _ = up
    watched = run_deployctl(home, "deployment", "run", "hello/hello", "--watch", cwd=home)
    assert watched.returncode == 0 and "finished: Completed" in watched.stdout, (
        watched.stdout + watched.stderr
    )
    run_id = watched.stdout.split()[3]

    def recorded() -> list[dict[str, object]] | None:
        found = ls(home, "--resource", f"prefect.flow-run.{run_id}", cwd=home)
        return found if found and found[0]["event"] == "prefect.flow-run.Completed" else None

    events = wait_for(recorded, what="the Completed event")
    names = [e["event"] for e in events]
    assert names == [f"prefect.flow-run.{s}" for s in ("Completed", "Running", "Pending", "Scheduled")]
    completed = events[0]
    resource = completed["resource"]
    assert isinstance(resource, dict)
    assert resource["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert resource["prefect.resource.name"].startswith("hello-")
    assert resource["prefect.state-type"] == "COMPLETED"
    related = {r["prefect.resource.role"]: r for r in completed["related"]}  # type: ignore[union-attr]
    assert related["flow"]["prefect.resource.id"].startswith("prefect.flow.")
    assert related["flow"]["prefect.resource.name"] == "hello"
    assert related["deployment"]["prefect.resource.id"].startswith("prefect.deployment.")
    assert related["deployment"]["prefect.resource.name"] == "hello"
    assert related["tag"]["prefect.resource.id"] == "prefect.tag.nightly"
    assert completed["payload"] == {
        "intended": {"from": "RUNNING", "to": "COMPLETED"},
        "initial_state": {"type": "RUNNING", "name": "Running"},
        "validated_state": {"type": "COMPLETED", "name": "Completed"},
    }
    assert resource["prefect.run-count"] == "1" and resource["prefect.state-name"] == "Completed"
    assert events[-1]["payload"]["initial_state"] is None, "Scheduled is a run's first state"  # type: ignore[index]
    assert len({e["id"] for e in events}) == 4
    by_flow = ls(home, "--event", "prefect.flow-run.*", "--resource", "prefect.flow-run.*", cwd=home)
    assert len(by_flow) == 4, "only this run has changed state since up started"


def test_two_engines_publish_each_state_change_once(tmp_path: Path) -> None:
    files = {"flows.py": "def hello():\n    pass\n", "hello-deployment.yaml": manifest("hello", "hello")}
    engine = make_engine(tmp_path, files)
    registry = engine.store.path
    pumps = [
        EventPump(SqliteStateFeed(registry), SqliteEventStore(registry.parent / "events.db"),
                  SqliteRunStore(registry))
        for _ in range(2)
    ]  # fmt: skip
    for pump in pumps:
        assert pump.publish() == 0, "no run has changed state yet"
    snapshot = engine.store.deployment_snapshot("hello/hello")
    assert snapshot is not None
    run = engine.store.create_run(NewRun("hello/hello", "hello", snapshot[0], {}, "default", NOW), NOW)
    engine.store.set_state(run.id, StateType.PENDING, "Pending", NOW)
    published = [pump.publish() for pump in pumps]
    assert sorted(published) == [0, 2]
    events = pumps[0].events.query(EventFilter(resource=f"prefect.flow-run.{run.id}"))
    assert sorted(e.event for e in events) == ["prefect.flow-run.Pending", "prefect.flow-run.Scheduled"]
    for pump in pumps:
        pump.close()


def test_retention_keeps_days_and_count(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.db")
    start = datetime(2026, 6, 1, tzinfo=UTC)
    events = [
        Event(
            f"00000000-0000-4000-8000-{i:012d}",
            "tick",
            iso(start + timedelta(days=i)),
            {"prefect.resource.id": "r"},
        )
        for i in range(10)
    ]
    assert store.add(events, NOW) == 10
    assert store.prune(iso(start + timedelta(days=3)), keep=1000) == 3, "older than the retention"
    assert store.prune(iso(start), keep=4) == 3, "beyond the count, oldest first"
    kept = store.query(EventFilter(limit=100))
    assert [e.occurred for e in kept] == [iso(start + timedelta(days=i)) for i in (9, 8, 7, 6)]
    store.close()


def test_retention_settings_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    app = App(Settings.resolve(home=str(tmp_path), env={}))
    assert (app.event_settings().retention, app.event_settings().max_events) == (timedelta(days=7), 1_000_000)
    monkeypatch.setenv("DEPLOYCTL_EVENTS_RETENTION_DAYS", "0.5")
    monkeypatch.setenv("DEPLOYCTL_EVENTS_MAX", "5000")
    monkeypatch.setenv("DEPLOYCTL_TRIGGER_RATE", "3")
    settings = app.event_settings()
    assert (settings.retention, settings.max_events, settings.rate_limit) == (timedelta(hours=12), 5000, 3)
    monkeypatch.setenv("DEPLOYCTL_EVENTS_MAX", "lots")
    with pytest.raises(ConfigError, match="DEPLOYCTL_EVENTS_MAX='lots'"):
        app.event_settings()


TOKEN = "events-token-for-tests"


def ready(controller: ControllerProcess) -> None:
    """After the first pass (a SIGTERM during it waits for it, up to the grace period)."""
    wait_for(lambda: controller.get("/readyz") == (200, "ready\n"), what="the first pass")


def test_post_api_events_on_the_controllers_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPLOYCTL_EVENTS_TOKEN", TOKEN)
    repo = repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home" / ".deployctl"
    controller = ControllerProcess(str(repo.root), home, "--no-engine", "--interval", "60")
    try:
        ready(controller)
        url = controller.url + "/api/events"
        good = {"event": "sales.file.landed", "resource": {"prefect.resource.id": "s3.bucket.sales"}}
        bearer = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        assert request(url, json.dumps(good).encode())[0] == 401
        assert request(url, json.dumps(good).encode(), {"Authorization": "Bearer nope"})[0] == 401
        assert request(url, b"{not json", bearer)[0] == 400
        half = [good, {"event": "x", "resource": {}}]
        status, body = request(url, json.dumps(half).encode(), bearer)
        assert status == 400 and "event [1]: resource: prefect.resource.id is required" in body
        # the length is refused before the body is read (a client still sending may see a reset)
        head = f"POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        huge = (head + "Content-Length: 1048577\r\n\r\n{").encode()
        assert raw(controller.url, huge).startswith(b"HTTP/1.1 413")
        assert ls(home.parent, cwd=tmp_path) == [], "nothing of a refused body is stored"
        status, body = request(
            url, json.dumps([good, {**good, "event": "sales.file.checked"}]).encode(), bearer
        )
        assert status == 202 and "2 event(s) recorded" in body
        single = request(url, json.dumps(good).encode(), {"X-Deployctl-Token": TOKEN})
        assert single[0] == 202
        names = [e["event"] for e in ls(home.parent, "--resource", "s3.bucket.sales", cwd=tmp_path)]
        assert sorted(names) == ["sales.file.checked", "sales.file.landed", "sales.file.landed"]
        assert (
            controller.metric("deployctl_webhook_requests_total", provider="events", result="accepted") == 2
        )
    finally:
        assert controller.terminate() == 0


def test_post_api_events_is_closed_without_a_token(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home" / ".deployctl"
    env_before = os.environ.pop("DEPLOYCTL_EVENTS_TOKEN", None)
    controller = ControllerProcess(str(repo.root), home, "--no-engine", "--interval", "60")
    try:
        ready(controller)
        good = {"event": "a.b", "resource": {"prefect.resource.id": "r"}}
        status, body = request(
            controller.url + "/api/events", json.dumps(good).encode(), {"Authorization": "Bearer x"}
        )
        assert status == 401 and "set DEPLOYCTL_EVENTS_TOKEN" in body
    finally:
        assert controller.terminate() == 0
        if env_before is not None:
            os.environ["DEPLOYCTL_EVENTS_TOKEN"] = env_before
