"""A rollback that holds against a running controller: a real controller process polling a
real git daemon on loopback, the embedded registry, and `deployctl rollback` / `release` run as
processes beside it. Polls and webhooks of a held owner report "held at REV; HEAD is X" and
apply nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_deployctl
from tests.controller_fixtures import Published, wait_for
from tests.gitrepo import deployment_files
from tests.test_controller_process import Start, daemon, deployments, published, start  # noqa: F401

pytestmark = pytest.mark.controller


def test_polls_and_webhooks_of_a_held_owner_apply_nothing_until_release(
    tmp_path: Path,
    published: Published,  # noqa: F811
    start: Start,  # noqa: F811
) -> None:
    home = tmp_path / "home"
    controller = start(home, "--interval", "0.3")
    owner = controller.controller()["owner"]
    first = published.work.git("rev-parse", "HEAD")
    second = published.push(deployment_files("second"))
    wait_for(lambda: "etl/second" in deployments(home), what="the second commit applied by a poll")

    def deployctl(*args: str) -> str:
        done = run_deployctl(tmp_path, "--home", "home", *args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    rolled = deployctl("rollback", owner, "--to", first[:10])
    assert f"held at {first[:12]}; HEAD is {second[:12]}" in rolled
    assert deployments(home) == {"etl/first"}
    third = published.push(deployment_files("third"))
    assert controller.github_push()[0] == 202  # a webhook, as a poll: reported, not applied
    wait_for(lambda: controller.controller()["remote_head"] == third, what="the third commit to be seen")
    wait_for(lambda: controller.controller()["held"], what="the hold to be read")
    state = controller.controller()
    assert state["held"]["revision"] == first and state["applied_revision"] == first
    assert state["held_message"] == (
        f"{owner} is held at {first[:12]}; HEAD is {third[:12]}: nothing was applied "
        f"(run 'deployctl release {owner}' to follow the ref again)"
    )
    passes_before = state["passes"]
    polls = controller.metric("deployctl_git_requests_total", kind="ls-remote")
    wait_for(
        lambda: controller.metric("deployctl_git_requests_total", kind="ls-remote") >= polls + 3,
        what="three more polls",
    )
    assert deployments(home) == {"etl/first"}
    assert controller.metric("deployctl_held") == 1
    assert controller.get("/readyz") == (200, f"held at {first[:12]}\n")
    (source,) = controller.status()["sources"]
    assert source["held"]["revision"] == first
    assert controller.controller()["passes"] == passes_before  # polls ran no pass

    assert f"released (was held at {first[:12]}" in deployctl("release", owner)
    wait_for(lambda: "etl/third" in deployments(home), what="the head applied after release")
    assert deployments(home) == {"etl/first", "etl/second", "etl/third"}
    wait_for(lambda: controller.metric("deployctl_held") == 0, what="the gauge to drop")
    assert controller.controller()["held"] is None

    history = json.loads(deployctl("history", owner, "-o", "json"))
    # release asks the controller to look at once (a relayed refresh, as a standby's webhook is)
    released, *before = [(p["trigger"], p["revision"]) for p in history]
    assert released in (("poll", third), ("webhook", third))
    assert before == [
        ("rollback", first),
        ("poll", second),
        ("poll", first),
    ]
    assert controller.terminate() == 0
    assert f"held at {first[:12]}; HEAD is {third[:12]}" in controller.stderr()
