"""The controller as a real process tells receivers how its passes end: one notice per owner,
revision and event however many times a pass is retried, while a hung receiver holds nothing up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller_fixtures import ControllerProcess, GitDaemon, Published, wait_for
from tests.gitrepo import deployment_files
from tests.receivers import Receiver, serving

pytestmark = pytest.mark.controller

BROKEN = {
    "flows/first/deployment.yaml": "name: first\nflow_name: etl\nentrypoint: flow.py:run\nshedule: {}\n"
}
SETTINGS = """receivers:
  - {name: hung, type: webhook, url_env: HUNG_URL}
  - {name: ops, type: webhook, url_env: OPS_URL, secret_env: OPS_HOOK_KEY}
drain_seconds: 1
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[GitDaemon, Published]]:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served").start()
    try:
        yield daemon, Published(tmp_path, daemon)
    finally:
        daemon.stop()


def test_refused_retried_failures_and_recoveries_are_one_notice_each(
    tmp_path: Path, served: tuple[GitDaemon, Published], monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon, published = served
    published.push(deployment_files("first"), "initial")
    home = tmp_path / "home"
    home.mkdir()
    (home / "notifications.yaml").write_text(SETTINGS)
    with serving(Receiver(hold=True)) as hung, serving(Receiver()) as ops:
        monkeypatch.setenv("HUNG_URL", hung.url)
        monkeypatch.setenv("OPS_URL", ops.url)
        monkeypatch.setenv("OPS_HOOK_KEY", "ops-hook-key-for-tests")
        controller = ControllerProcess(published.url, home, "--interval", "1")
        try:
            events = lambda: [b["event"] for b in ops.bodies()]  # noqa: E731
            wait_for(lambda: events() == ["applied"], what="the first pass's notice")
            assert hung.got.wait(20) and not hung.release.is_set()  # it holds the first notice …
            published.push(BROKEN, "a typo")
            wait_for(lambda: events() == ["applied", "refused"], what="the refusal")
            published.push(deployment_files("first"), "the fix")
            wait_for(lambda: events()[-1:] == ["recovered"], what="the recovery")
            assert controller.controller()["last_outcome"] == "applied"  # … while passes go on
            daemon.stop()
            wait_for(lambda: controller.controller()["consecutive_failures"] >= 3, what="retried failures")
            daemon.start()
            wait_for(lambda: len(events()) == 5, what=f"the second recovery: {events()}")
            hung.release.set()
            assert controller.terminate() == 0
        finally:
            controller.kill()
    assert events() == ["applied", "refused", "recovered", "failed", "recovered"]
    assert all(r.signed_with("ops-hook-key-for-tests") for r in ops.requests)
    assert ops.bodies()[3]["revision"] is None and "cannot reach" in ops.bodies()[3]["message"]


def test_the_controller_marks_each_commit_it_writes_pending_then_applied(
    tmp_path: Path, served: tuple[GitDaemon, Published], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, published = served
    first = published.push(deployment_files("first"), "initial")
    home = tmp_path / "home"
    home.mkdir()
    (home / "notifications.yaml").write_text(
        "receivers:\n  - {name: status, type: github}\ndrain_seconds: 5\n"
    )
    with serving(Receiver()) as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url.removesuffix("/hook"))
        monkeypatch.setenv("GITHUB_REPOSITORY", "team/flows")
        monkeypatch.setenv("GITHUB_TOKEN", "ghs_0123456789")
        controller = ControllerProcess(published.url, home, "--interval", "1")
        try:
            statuses = lambda: [(r.path.rsplit("/", 1)[1], r.json()["state"]) for r in github.requests]  # noqa: E731
            wait_for(lambda: len(statuses()) == 2, what="the first commit's statuses")
            second = published.push(deployment_files("first", cron="5 * * * *"), "every hour at :05")
            wait_for(lambda: len(statuses()) == 4, what=f"the second commit's statuses: {statuses()}")
            assert controller.terminate() == 0
        finally:
            controller.kill()
    assert statuses() == [(first, "pending"), (first, "success"), (second, "pending"), (second, "success")]
