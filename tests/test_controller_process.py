"""The controller as a real process against a real git daemon on loopback and a real SQLite registry:
webhooks, polling, an unreachable server, invalid commits, drift, SIGTERM, metrics."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controller.adapters.sqlite.lease import set_suspended
from tests.controller_fixtures import ControllerProcess, GitDaemon, Published, wait_for
from tests.gitrepo import deployment_files

pytestmark = pytest.mark.controller


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[GitDaemon]:
    base = tmp_path / "served"
    base.mkdir()
    server = GitDaemon(base).start()
    yield server
    server.stop()


@pytest.fixture
def published(tmp_path: Path, daemon: GitDaemon) -> Published:
    repo = Published(tmp_path, daemon)
    repo.push(deployment_files("first"), "initial")
    return repo


def deployments(home: Path) -> set[str]:
    with sqlite3.connect(home / "registry.db") as db:
        return {row[0] for row in db.execute("SELECT id FROM deployments")}


def cli_status(home: Path) -> str:
    """``deployctl status`` as a user beside the controller would run it."""
    shown = subprocess.run(
        [sys.executable, "-m", "controller", "--home", home.name, "status"],
        capture_output=True, text=True, cwd=home.parent, env={**os.environ, "HOME": str(home.parent)},
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


Start = Callable[..., ControllerProcess]


@pytest.fixture
def start(published: Published) -> Iterator[Start]:
    """Starts a controller on ``published`` and waits for its first pass; killed at teardown."""
    started: list[ControllerProcess] = []

    def launch(home: Path, *args: str) -> ControllerProcess:
        started.append(ControllerProcess(published.url, home, *args))
        wait_for(lambda: started[-1].get("/readyz") == (200, "ready\n"), what="the first pass")
        return started[-1]

    yield launch
    for controller in started:
        controller.kill()


def test_push_then_a_signed_webhook_applies_and_a_forged_one_is_refused(
    tmp_path: Path, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "300")
    assert deployments(home) == {"etl/first"}
    assert controller.get("/healthz")[0] == 200
    published.push(deployment_files("second"))
    assert controller.github_push(secret="forged")[0] == 401
    assert controller.github_push(ref="refs/heads/other")[0] == 202
    assert deployments(home) == {"etl/first"}
    assert controller.github_push()[0] == 202
    wait_for(lambda: deployments(home) == {"etl/first", "etl/second"}, what="the pushed deployment")
    hooks = {r: controller.metric("deployctl_webhook_requests_total", provider="github", result=r)
             for r in ("unauthorized", "ignored", "accepted")}  # fmt: skip
    assert hooks == {"unauthorized": 1, "ignored": 1, "accepted": 1}
    # only the signed push for the watched branch made the loop look at the remote again
    assert controller.metric("deployctl_git_requests_total", kind="ls-remote") == 2
    assert controller.metric("deployctl_reconcile_passes_total", result="applied") == 2
    assert controller.terminate() == 0


def test_polling_applies_within_one_interval_and_an_outage_is_reported_then_recovered(
    tmp_path: Path, daemon: GitDaemon, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "1")
    published.push(deployment_files("second"))
    wait_for(lambda: "etl/second" in deployments(home), timeout=3, what="a poll within one interval")
    applied = controller.controller()["applied_revision"]
    daemon.stop()
    wait_for(lambda: controller.controller()["consecutive_failures"] >= 2, what="failures to be reported")
    assert controller.metric("deployctl_git_failures_total", kind="ls-remote") >= 2
    assert "cannot reach" in controller.controller()["last_error"]
    assert deployments(home) == {"etl/first", "etl/second"}
    # status says so, since when, and what is still in force
    (source,) = controller.status()["sources"]
    assert (source["last_applied_revision"], source["last_attempted_revision"]) == (applied, applied)
    stalled = source["conditions"][1]
    assert (stalled["type"], stalled["reason"]) == ("Stalled", "SourceFailed"), source
    assert stalled["message"].startswith(f"cannot reach {published.url}: "), stalled
    shown = cli_status(home)
    assert f"Stalled=true SourceFailed: cannot reach {published.url}: " in shown
    assert f"updated at:     {source['updated_at']}" in shown and f"last applied:   {applied}" in shown
    # the last applied revision stays in force; the source is failing, the process alive
    status, reason = controller.get("/readyz")
    assert status == 503 and reason.startswith("source failing") and "cannot reach" in reason, reason
    assert controller.get("/healthz")[0] == 200
    published.push(deployment_files("third"))
    daemon.start()
    wait_for(lambda: "etl/third" in deployments(home), what="recovery after the outage")
    assert controller.controller()["consecutive_failures"] == 0
    assert [c["reason"] for c in controller.status()["sources"][0]["conditions"]] == ["Succeeded"]


def test_an_invalid_commit_is_tried_once_and_a_fix_is_applied(
    tmp_path: Path, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "0.2")
    bad = published.push({"flows/broken/deployment.yaml": "name: [unclosed\n"}, "broken")
    wait_for(lambda: controller.controller()["refused_revision"] == bad, what="the refusal")
    checks = controller.metric("deployctl_git_requests_total", kind="ls-remote")
    wait_for(
        lambda: controller.metric("deployctl_git_requests_total", kind="ls-remote") >= checks + 5,
        what="five more polls",
    )
    assert controller.metric("deployctl_reconcile_passes_total", result="refused") == 1
    assert controller.status()["sources"][0]["conditions"][1]["reason"] == "ValidationFailed"
    published.work.remove("flows/broken")
    fixed = published.push(deployment_files("second"), "fix")
    wait_for(lambda: controller.controller()["applied_revision"] == fixed, what="the fix")
    assert deployments(home) == {"etl/first", "etl/second"}
    assert controller.controller()["refused_revision"] is None


@pytest.mark.parametrize("interval", ["0.2", "300"])
def test_a_registry_edit_is_restored_by_the_drift_pass_on_its_own_interval(
    tmp_path: Path, published: Published, start: Start, interval: str
) -> None:
    """Polls or not (the first poll of 300 s never comes), without fetching git."""
    home = tmp_path / "home"
    controller = start(home, "--interval", interval, "--drift-interval", "0.5")
    fetches = controller.metric("deployctl_git_requests_total", kind="fetch")
    with sqlite3.connect(home / "registry.db") as db:
        (original,) = db.execute("SELECT record FROM deployments").fetchone()
        db.execute(
            "UPDATE deployments SET record_digest = 'edited', "
            "record = json_set(record, '$.schedules[0].cron', '30 * * * *')"
        )
    wait_for(lambda: controller.metric("deployctl_drift_corrections_total") == 1, what="the drift pass")
    with sqlite3.connect(home / "registry.db") as db:
        assert db.execute("SELECT record FROM deployments").fetchone()[0] == original
    assert controller.metric("deployctl_git_requests_total", kind="fetch") == fetches


def test_a_refusal_names_its_first_problem_and_keeps_counting_what_is_in_force(
    tmp_path: Path, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "0.2")
    assert controller.metric("deployctl_deployments", status="synced") == 1
    broken = {"flows/broken/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: missing.py:run\n"}
    bad = published.push(broken, "broken")
    wait_for(lambda: controller.controller()["refused_revision"] == bad, what="the refusal")
    where = "flows/broken/deployment.yaml:3:1: entrypoint: entrypoint file 'missing.py' does not exist"
    assert where in controller.controller()["last_error"]
    assert where in controller.status()["sources"][0]["conditions"][0]["message"]
    counts = {s: controller.metric("deployctl_deployments", status=s) for s in ("synced", "frozen")}
    assert counts == {"synced": 0, "frozen": 1}  # etl/first, in force at the last applied revision
    refusal = f"Ready=false ValidationFailed: 1 problem(s) in the manifests; nothing was applied: {where}"
    assert refusal in cli_status(home)
    assert controller.terminate() == 0
    log = controller.stderr()
    assert f"pass on {bad[:12]}: refused (1 problem(s) in the manifests; nothing was applied: {where}" in log


def test_suspend_stops_applying_and_resume_applies(
    tmp_path: Path, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "0.2")
    owner = controller.controller()["owner"]
    set_suspended(home / "registry.db", owner, True)
    new = published.push(deployment_files("second"))
    wait_for(lambda: controller.controller()["remote_head"] == new, what="the new commit to be seen")
    wait_for(lambda: controller.controller()["suspended"], what="suspension to be reported")
    assert deployments(home) == {"etl/first"}
    set_suspended(home / "registry.db", owner, False)
    wait_for(lambda: "etl/second" in deployments(home), what="the resumed apply")


def test_sigterm_during_a_pass_exits_0_and_leaves_a_whole_state(
    tmp_path: Path, published: Published, start: Start
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "300", "--shutdown-grace", "10")
    names = [f"d{i}" for i in range(40)]
    files: dict[str, str] = {}
    for name in names:
        files |= deployment_files(name)
    published.push(files, "many")
    assert controller.github_push()[0] == 202
    wait_for(lambda: controller.controller()["remote_head"] != controller.controller()["applied_revision"],
             what="the pass to start")  # fmt: skip
    assert controller.terminate(timeout=15) == 0
    found = deployments(home)
    assert found in ({"etl/first"}, {"etl/first", *(f"etl/{n}" for n in names)})


def test_a_signed_body_nested_too_deep_gets_a_400_and_the_controller_goes_on(
    tmp_path: Path, start: Start
) -> None:
    controller = start(tmp_path / "home", "--interval", "300")
    depth = 200_000  # 400 kB, under the 1 MiB body limit; far past the JSON parser's nesting limit
    body = b'{"ref": "refs/heads/main", "commits": ' + b"[" * depth + b"]" * depth + b"}"
    status, answer = controller.github_hook(body)
    assert status == 400, answer
    assert json.loads(answer) == {
        "result": "bad_request",
        "message": "the body is nested too deeply to read (a push event is a flat JSON object)",
    }
    assert controller.metric("deployctl_webhook_requests_total", provider="github", result="bad_request") == 1
    assert controller.get("/healthz")[0] == 200 and controller.github_push()[0] == 202
