"""``deployctl plan --comment`` as CI runs it: a real process with the variables GitHub Actions
and GitLab CI set, a real git repository, and fake comment APIs on loopback. One comment per
pull request and source, found by its hidden marker and updated in place."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.forges import ForgeAPI, serving_forge
from tests.gitrepo import deployment_files, repository
from tests.test_notifications import BROKEN


def test_github_one_comment_updated_on_each_push_past_a_page_of_others(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": 7}}))
    others = [{"id": i, "body": f"looks good {i}"} for i in range(120)]  # past the first page of 100
    with serving_forge(ForgeAPI(comments=others)) as github:
        env = {
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": "team/flows",
            "GITHUB_TOKEN": "ghs_test-token-0123456789",
            "GITHUB_EVENT_PATH": str(event),
        }
        first = run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env)
        assert first.returncode == 1, first.stderr
        assert "created the plan comment" in first.stderr
        repo.write(BROKEN).commit("a typo")
        refused = run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env)
        assert refused.returncode == 2 and "updated the plan comment" in refused.stderr
        repo.write(deployment_files("a", cron="15 * * * *")).commit("the fix")
        assert run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env).returncode == 1
    assert github.writes() == [
        ("POST", "/repos/team/flows/issues/7/comments"),
        ("PATCH", "/repos/team/flows/issues/comments/1120"),
        ("PATCH", "/repos/team/flows/issues/comments/1120"),
    ]
    assert len(github.comments) == 121
    ours = github.comments[-1]["body"]
    assert ours.startswith("<!-- deployctl plan: deployctl-") and "| create | `etl/a` |" in ours
    refusal = next(b["body"] for m, _, _, b in github.requests if m == "PATCH")
    assert "`flows/a/deployment.yaml:4`" in refusal and "shedule" in refusal
    headers = github.requests[0][2]
    assert headers["Authorization"] == "Bearer ghs_test-token-0123456789"
    assert headers["X-GitHub-Api-Version"] == "2022-11-28"


def test_gitlab_merge_request_note_with_a_job_token_and_a_self_hosted_base_url(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    with serving_forge(ForgeAPI()) as gitlab:
        env = {
            "CI_API_V4_URL": f"{gitlab.url}/api/v4",
            "CI_PROJECT_ID": "42",
            "CI_MERGE_REQUEST_IID": "3",
            "CI_JOB_TOKEN": "job-token-0123456789",
        }
        for _ in range(2):
            assert run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env).returncode == 1
    assert gitlab.writes() == [
        ("POST", "/api/v4/projects/42/merge_requests/3/notes"),
        ("PUT", "/api/v4/projects/42/merge_requests/3/notes/1000"),
    ]
    assert gitlab.requests[0][2]["JOB-TOKEN"] == "job-token-0123456789"
    assert len(gitlab.comments) == 1


def test_outside_a_pull_request_it_is_one_clear_line_before_any_pass(tmp_path: Path) -> None:
    repository(tmp_path / "repo", ["a"])
    home = tmp_path / "home"
    done = run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert "plan --comment: no pull request here" in line
    push = tmp_path / "push.json"
    push.write_text(json.dumps({"ref": "refs/heads/main"}))
    env = {"GITHUB_REPOSITORY": "team/flows", "GITHUB_TOKEN": "ghs_0123456789"}
    env["GITHUB_EVENT_PATH"] = str(push)
    done = run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env)
    assert done.returncode == 2 and "pass --pull-request N" in done.stderr
