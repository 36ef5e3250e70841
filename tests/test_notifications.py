"""Notifications end to end: deployctl as a real process (HOME at a temporary folder), a real
git repository, the embedded registry, and receivers as real HTTP servers on loopback."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import jsonschema
import pytest
import yaml

from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.loading.schemas import generate_schemas
from controller.ports import SourceSpec
from controller.runtime.controlling.policy import classify
from controller.services.feedback import notify_pass
from controller.settings import Settings
from tests.cli_helpers import run_deployctl
from tests.gitrepo import deployment_files, repository
from tests.receivers import Receiver, serving

HMAC_KEY = "hmac-key-of-the-ops-hook"
SLACK_PATH = "/services/T000/B000/XXXXXXXXXXXXXXXX"
BROKEN = {"flows/a/deployment.yaml": "name: a\nflow_name: etl\nentrypoint: flow.py:run\nshedule: {}\n"}


def settings_text(*receivers: tuple[str, str, str], drain: float = 30) -> str:
    """(name, type, url variable) each; the webhook is signed with the key in OPS_HOOK_KEY."""
    lines = ["receivers:"]
    for name, kind, variable in receivers:
        lines += [f"  - name: {name}", f"    type: {kind}", f"    url_env: {variable}"]
        if kind == "webhook":
            lines.append("    secret_env: OPS_HOOK_KEY")
    return "\n".join([*lines, f"drain_seconds: {drain}", ""])


def write_settings(home: Path, text: str) -> Path:
    path = home / ".deployctl" / "notifications.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def receiver_env(**urls: str) -> dict[str, str]:
    return {"OPS_HOOK_KEY": HMAC_KEY, **urls}


def test_a_refused_commit_synced_again_and_again_is_one_notice_then_recovered(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a", "b"]), tmp_path / "home"
    write_settings(home, settings_text(("ops", "webhook", "OPS_HOOK_URL"), ("chat", "slack", "CHAT_URL")))
    with serving(Receiver()) as hook, serving(Receiver()) as slack:
        env = receiver_env(OPS_HOOK_URL=hook.url, CHAT_URL=slack.url.replace("/hook", SLACK_PATH))
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
        bad = repo.write(BROKEN).commit("a typo")
        for _ in range(3):
            refused = run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env)
            assert refused.returncode == 2, refused.stderr
        repo.write(deployment_files("a")).commit("the fix")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0  # up to date
    assert [b["event"] for b in hook.bodies()] == ["applied", "refused", "recovered"]
    assert all(r.signed_with(HMAC_KEY) for r in hook.requests)
    refusal = hook.bodies()[1]
    assert refusal["revision"] == bad and refusal["reason"] == "ValidationFailed"
    assert refusal["details"] and refusal["details"][0].startswith("flows/a/deployment.yaml:4")
    assert "shedule" in refusal["message"]
    texts = [b["text"] for b in slack.bodies()]
    assert [t.split(":")[0] for t in texts] == [
        "\u2705 deployctl applied", "\u274c deployctl refused", "\u2705 deployctl recovered"
    ]
    assert slack.requests[0].path == SLACK_PATH and "X-Signature" not in slack.requests[0].headers
    assert "shedule" in texts[1]


def test_a_hundred_passes_of_a_bad_commit_send_one_notice_per_receiver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    repo.write(BROKEN).commit("a typo")
    write_settings(home, settings_text(("ops", "webhook", "OPS_HOOK_URL"), ("chat", "slack", "CHAT_URL")))
    with serving(Receiver()) as hook, serving(Receiver()) as slack:
        for name, value in receiver_env(OPS_HOOK_URL=hook.url, CHAT_URL=slack.url).items():
            monkeypatch.setenv(name, value)
        app = App(Settings.resolve(home=str(home / ".deployctl"), env={"HOME": str(home)}))
        notifier, reconciler = app.notifier(), app.reconciler(SourceSpec(str(repo.root)))
        outcomes = set()
        for _ in range(100):
            result = reconciler.reconcile_once(SyncOptions())
            outcomes.add(classify(result).value)
            notify_pass(notifier, result, classify(result).value)
        notifier.close()
        app.close()
    assert outcomes == {"refused"}
    assert [b["event"] for b in hook.bodies()] == ["refused"] and len(slack.requests) == 1


def test_a_hung_receiver_does_not_hold_up_the_pass_nor_the_other_receivers(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    receivers = [
        ("hung", "webhook", "HUNG_URL"),
        ("ops", "webhook", "OPS_URL"),
        ("chat", "slack", "CHAT_URL"),
    ]
    write_settings(home, settings_text(*receivers))
    with serving(Receiver(hold=True)) as hung, serving(Receiver()) as ops, serving(Receiver()) as chat:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
        env |= {"HOME": str(home), "PYTHONUNBUFFERED": "1"}
        env |= receiver_env(HUNG_URL=hung.url, OPS_URL=ops.url, CHAT_URL=chat.url)
        sync = subprocess.Popen(
            [sys.executable, "-m", "controller", "sync", "repo"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        printed: queue.Queue[str] = queue.Queue()
        read = threading.Thread(target=lambda: [printed.put(line) for line in sync.stdout or ()], daemon=True)
        read.start()
        try:
            assert hung.got.wait(60), "the hung receiver never heard of the pass"
            # while the receiver still hangs: the pass is recorded, its result printed
            status = run_deployctl(home, "status", "-o", "json", cwd=tmp_path)
            assert json.loads(status.stdout)[0]["last_applied_revision"] == repo.git("rev-parse", "HEAD")
            while "Applied: 1 to create" not in printed.get(timeout=60):
                pass
            assert len(hung.requests) == 1  # printed before its first request even timed out
            while len(ops.requests) + len(chat.requests) < 2:  # the others are not held up by it
                ops.got.wait(0.05)
            assert sync.poll() is None and not hung.release.is_set()  # draining, within drain_seconds
            hung.release.set()
            assert sync.wait(60) == 0, sync.stderr.read() if sync.stderr else ""
        finally:
            if sync.poll() is None:
                sync.kill()
    assert [len(r.requests) for r in (hung, ops, chat)] == [1, 1, 1]


def test_plan_and_a_dry_run_notify_nobody(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    write_settings(home, settings_text(("ops", "webhook", "OPS_HOOK_URL")))
    with serving(Receiver()) as hook:
        env = receiver_env(OPS_HOOK_URL=hook.url)
        assert run_deployctl(home, "plan", "repo", cwd=tmp_path, env=env).returncode == 1
        assert run_deployctl(home, "sync", "--dry-run", "repo", cwd=tmp_path, env=env).returncode == 0
    assert hook.requests == []


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        (
            "receivers:\n  - name: ops\n    type: teams\n    url: http://127.0.0.1:9/hook\n",
            {},
            "notifications.yaml:3:5: receivers[0].type: str 'teams' is not allowed",
        ),
        (
            "receivers:\n  - name: ops\n    type: webhook\n    url_env: OPS_URL\n",
            {},
            "receivers[0] (ops): url_env names OPS_URL, which is not set; export it",
        ),
        (
            "receivers:\n  - name: ops\n    type: webhook\n    url: http://127.0.0.1:9/hook\n"
            "    secret_env: OPS_HOOK_KEY\n",
            {"OPS_HOOK_KEY": "k3y!z"},
            "OPS_HOOK_KEY is 5 characters long",
        ),
    ],
)
def test_bad_settings_are_one_clear_line_and_nothing_is_applied(
    tmp_path: Path, settings: str, env: dict[str, str], expected: str
) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    write_settings(home, settings)
    done = run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert expected in lines[0]
    assert "k3y!z" not in lines[0]  # a secret's value is never said
    listed = run_deployctl(home, "deployment", "ls", "-o", "json", cwd=tmp_path)
    assert listed.returncode == 2 or json.loads(listed.stdout) == []


def test_deployctl_notifications_names_the_file_and_a_missing_one_is_an_error(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    with serving(Receiver()) as hook:
        (tmp_path / "ci-notify.yaml").write_text(settings_text(("ops", "webhook", "OPS_HOOK_URL")))
        env = receiver_env(OPS_HOOK_URL=hook.url, DEPLOYCTL_NOTIFICATIONS="ci-notify.yaml")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
    assert [b["event"] for b in hook.bodies()] == ["applied"]
    missing = run_deployctl(home, "sync", "repo", cwd=tmp_path, env={"DEPLOYCTL_NOTIFICATIONS": "nope.yaml"})
    assert missing.returncode == 2 and "nope.yaml: cannot be read" in missing.stderr


def test_the_readme_example_matches_the_schema() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("## Notifications", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    schema = json.loads(generate_schemas()["notifications.schema.json"])
    jsonschema.validate(yaml.safe_load(textwrap.dedent(example)), schema)
    assert "yaml-language-server: $schema=" in example




def test_a_rollback_is_heard_as_held_and_its_release_as_released(tmp_path: Path) -> None:
    """Issue #23's held and released events: ``rollback`` and ``release`` as processes, one
    signed webhook; a receiver that lists only ``refused`` hears neither."""
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    first = repo.git("rev-parse", "HEAD")
    settings = settings_text(("ops", "webhook", "OPS_HOOK_URL"), ("pager", "webhook", "PAGER_URL"))
    pager_only_refused = "    url_env: PAGER_URL\n    events: [refused]"
    write_settings(home, settings.replace("    url_env: PAGER_URL", pager_only_refused))
    with serving(Receiver()) as hook, serving(Receiver()) as pager:
        env = receiver_env(OPS_HOOK_URL=hook.url, PAGER_URL=pager.url)
        assert run_deployctl(home, "sync", "repo", "--owner", "team", cwd=tmp_path, env=env).returncode == 0
        second = repo.write(deployment_files("b")).commit("b")
        assert run_deployctl(home, "sync", "repo", "--owner", "team", cwd=tmp_path, env=env).returncode == 0
        back = ("rollback", "team", "--to", first, "--force-prune")
        rolled = run_deployctl(home, *back, cwd=tmp_path, env=env)
        assert rolled.returncode == 0, rolled.stderr
        released = run_deployctl(home, "release", "team", cwd=tmp_path, env=env)
        assert released.returncode == 0, released.stderr
    events = [(b["event"], b["revision"]) for b in hook.bodies()]
    assert events == [("applied", first), ("applied", second), ("held", first), ("released", first)]
    held = hook.bodies()[2]
    assert held["message"] == (
        f"held at {first[:12]} by a rollback; HEAD is {second[:12]} (deployctl release team to follow "
        "the ref again)"
    )
    assert held["repository"] and held["ref"] == "main" and held["severity"] == "info"
    assert all(r.signed_with(HMAC_KEY) for r in hook.requests) and pager.requests == []


@pytest.mark.parametrize("kind", ["folder", "broken link"])
def test_a_default_settings_file_that_cannot_be_read_stops_the_sync(tmp_path: Path, kind: str) -> None:
    """``$DEPLOYCTL_HOME/notifications.yaml`` that is there but unreadable is an error, as the
    same path named by DEPLOYCTL_NOTIFICATIONS is: never a sync that silently notifies no one."""
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    path = home / ".deployctl" / "notifications.yaml"
    path.parent.mkdir(parents=True)
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "nowhere.yaml")
    done = run_deployctl(home, "sync", "repo", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{path}: cannot be read (" in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert "Applied" not in done.stdout
