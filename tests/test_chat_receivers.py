"""Google Chat and Microsoft Teams receivers, as people run them: ``deployctl sync`` as a process
with HOME in a temporary folder, each chat's incoming webhook a real HTTP server on loopback."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.gitrepo import deployment_files, repository
from tests.receivers import Receiver, serving
from tests.test_notifications import BROKEN, write_settings

SETTINGS = """receivers:
  - {name: google, type: googlechat, url_env: GOOGLE_CHAT_URL}
  - {name: teams, type: msteams, url_env: TEAMS_URL, events: [refused, recovered]}
drain_seconds: 30
"""


def test_google_chat_and_teams_hear_the_refusal_and_the_recovery(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    write_settings(home, SETTINGS)
    with serving(Receiver()) as google, serving(Receiver()) as teams:
        env = {"GOOGLE_CHAT_URL": google.url + "?key=k&token=t", "TEAMS_URL": teams.url}
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
        repo.write(BROKEN).commit("a typo")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 2
        repo.write(deployment_files("a", cron="5 * * * *")).commit("the fix")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
    texts = [b["text"] for b in google.bodies()]
    assert [t.split(":")[0] for t in texts] == [
        "\u2705 deployctl applied", "\u274c deployctl refused", "\u2705 deployctl recovered"
    ]  # fmt: skip
    assert "flows/a/deployment.yaml:4" in texts[1] and google.requests[0].path == "/hook?key=k&token=t"
    assert [set(b) for b in google.bodies()] == [{"text"}] * 3
    refused, recovered = teams.bodies()
    for message in (refused, recovered):
        assert message["type"] == "message"
        (attachment,) = message["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
        assert all(block["type"] == "TextBlock" and block["wrap"] for block in card["body"])
    blocks = refused["attachments"][0]["content"]["body"]
    assert blocks[0]["weight"] == "Bolder" and blocks[0]["text"].startswith("\u274c deployctl refused")
    assert any("shedule" in block["text"] for block in blocks[1:])
    assert all("X-Signature" not in r.headers for r in [*google.requests, *teams.requests])


def test_a_chat_receiver_with_a_signing_key_is_one_clear_line(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    write_settings(
        home, "receivers:\n  - {name: teams, type: msteams, url_env: TEAMS_URL, secret_env: KEY}\n"
    )
    done = run_deployctl(
        home, "sync", "repo", cwd=tmp_path, env={"TEAMS_URL": "https://x.invalid", "KEY": "k" * 20}
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "a chat webhook is not signed: its URL is the secret" in done.stderr
