"""Commit statuses as CI sets them: ``deployctl sync`` as a real process, with the variables
GitHub Actions and GitLab CI set, against fake GitHub and GitLab APIs on loopback. A pass with
changes marks its commit pending (GitLab: running) before it builds and writes, then success or
failure; a refused commit, or one with nothing to write, goes straight to its end."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.gitrepo import deployment_files, repository
from tests.receivers import Receiver, serving
from tests.test_notifications import BROKEN, write_settings

SETTINGS = """receivers:
  - {name: github, type: github, status_page: "https://status.example.invalid/deployctl"}
  - {name: gitlab, type: gitlab}
"""
GITHUB_STATES = {"error", "failure", "pending", "success"}  # the commit status API's enum
GITLAB_STATES = {"pending", "running", "success", "failed", "canceled"}


def test_sync_marks_the_commit_refused_then_applied_on_github_and_gitlab(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    write_settings(home, SETTINGS)
    with serving(Receiver()) as github, serving(Receiver()) as gitlab:
        env = {
            "GITHUB_API_URL": github.url.removesuffix("/hook"),
            "GITHUB_REPOSITORY": "team/flows",
            "GITHUB_TOKEN": "ghs_test-token-0123456789",
            "CI_API_V4_URL": gitlab.url.removesuffix("/hook") + "/api/v4",
            "CI_PROJECT_ID": "group/flows",
            "GITLAB_TOKEN": "glpat-test-token-0123",
        }
        bad = repo.write(BROKEN).commit("a typo")
        refused = run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env)
        assert refused.returncode == 2, refused.stderr
        good = repo.write(deployment_files("a")).commit("the fix")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
    commits = (bad, good, good)
    assert [r.path for r in github.requests] == [f"/repos/team/flows/statuses/{c}" for c in commits]
    gitlab_paths = [f"/api/v4/projects/group%2Fflows/statuses/{c}" for c in commits]
    assert [r.path for r in gitlab.requests] == gitlab_paths
    failure, pending, success = github.bodies()
    assert [b["state"] for b in (failure, pending, success)] == ["failure", "pending", "success"]
    assert pending["description"] == "applying: 1 to create, 0 to update, 0 to delete"
    assert pending["context"] == success["context"] and pending["target_url"] == success["target_url"]
    assert failure["context"] == success["context"] and failure["context"].startswith("deployctl/deployctl-")
    assert failure["description"].startswith("refused: ") and "shedule" in failure["description"]
    assert len(failure["description"]) <= 140 and "\n" not in failure["description"]
    assert failure["target_url"] == "https://status.example.invalid/deployctl"
    assert {b["state"] for b in github.bodies()} <= GITHUB_STATES
    assert set(failure) <= {"state", "context", "description", "target_url"}
    assert github.requests[0].headers["Authorization"] == "Bearer ghs_test-token-0123456789"
    assert github.requests[0].headers["Accept"] == "application/vnd.github+json"
    assert [b["state"] for b in gitlab.bodies()] == ["failed", "running", "success"]
    assert {b["state"] for b in gitlab.bodies()} <= GITLAB_STATES
    assert gitlab.bodies()[0]["name"] == failure["context"] and "target_url" not in gitlab.bodies()[0]
    assert gitlab.requests[0].headers["PRIVATE-TOKEN"] == "glpat-test-token-0123"


def test_a_forge_receiver_without_repository_or_token_is_one_clear_line(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    write_settings(home, "receivers:\n  - {name: github, type: github}\n")
    token = {"GITHUB_TOKEN": "ghs_0123456789"}
    no_repository = run_deployctl(home, "sync", "repo", cwd=tmp_path, env=token)
    assert no_repository.returncode == 2
    assert "(github): no repository: set repository: or GITHUB_REPOSITORY" in no_repository.stderr
    no_token = run_deployctl(home, "sync", "repo", cwd=tmp_path, env={"GITHUB_REPOSITORY": "team/flows"})
    assert no_token.returncode == 2 and "no token: set secret_env: or GITHUB_TOKEN" in no_token.stderr
    assert len(no_token.stderr.strip().splitlines()) == 1


def test_a_commit_retried_after_a_failed_build_is_never_left_pending(tmp_path: Path) -> None:
    """The failure is one message (the ledger), but each pass that set the commit pending ends it."""
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    write_settings(
        home, "receivers:\n  - {name: github, type: github}\n  - {name: hook, type: webhook, url_env: HOOK}\n"
    )
    (tmp_path / "blocker").touch()  # storage under a file: the build of the pass fails
    broken_storage = ("--storage", str(tmp_path / "blocker" / "storage"))
    with serving(Receiver()) as github, serving(Receiver()) as hook:
        env = {"GITHUB_API_URL": github.url.removesuffix("/hook"), "GITHUB_REPOSITORY": "team/flows"}
        env |= {"GITHUB_TOKEN": "ghs_0123456789", "HOOK": hook.url}
        for _ in range(2):
            failed = run_deployctl(home, *broken_storage, "sync", "repo", cwd=tmp_path, env=env)
            assert failed.returncode == 2 and "cannot write artifact" in failed.stderr
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
        repo.write({"notes.txt": "not a deployment"}).commit("no deployment changes")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
    states = [b["state"] for b in github.bodies()]
    assert states == ["pending", "failure", "pending", "failure", "pending", "success"]
    assert github.bodies()[1]["description"].startswith("failed: cannot write artifact")
    assert [b["event"] for b in hook.bodies()] == ["failed", "recovered"]
