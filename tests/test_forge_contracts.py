"""Every kind of request deployctl sends to GitHub and GitLab, checked against their contracts.

deployctl runs as a process, as CI runs it, against fake forge APIs on loopback that record what
they receive: ``plan --comment`` (comments listed page by page, created, then updated) and
``sync`` with commit-status receivers (a refused commit, then one set pending and applied). Each recorded
request is then checked against GitHub's published OpenAPI description (``tests.contracts``:
api.github.com and GitHub Enterprise Server) or GitLab's documented API; a contract check that
cannot fail is none, so the last tests show it refusing what the forges refuse.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.contracts import Sent, github_descriptions, github_problems, gitlab_problems
from tests.forges import ForgeAPI, serving_forge
from tests.gitrepo import deployment_files, repository
from tests.receivers import Receiver, serving
from tests.test_notifications import BROKEN, write_settings

OTHERS = [{"id": i, "body": f"looks good {i}"} for i in range(120)]  # past the first page of 100


def forge_requests(api: ForgeAPI) -> list[Sent]:
    return [
        Sent(method, target, body)
        for (method, _, _, body), target in zip(api.requests, api.targets, strict=True)
    ]


def receiver_requests(receiver: Receiver) -> list[Sent]:
    return [Sent("POST", r.path, r.json()) for r in receiver.requests]


def test_github_comment_requests_follow_the_openapi_description(tmp_path: Path) -> None:
    github_descriptions()  # skips (or, in CI, fails) before any work when it is not installed
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "pull_request": {"number": 7}}))
    with serving_forge(ForgeAPI(comments=list(OTHERS))) as github:
        env = {
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": "team/flows",
            "GITHUB_TOKEN": "ghs_0123456789",
        }
        env["GITHUB_EVENT_PATH"] = str(event)
        assert run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env).returncode == 1
        repo.write(BROKEN).commit("a typo")
        assert run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=env).returncode == 2
    sent = forge_requests(github)
    assert [(s.method, s.query.get("page")) for s in sent] == [
        ("GET", ["1"]), ("GET", ["2"]), ("POST", None), ("GET", ["1"]), ("GET", ["2"]), ("PATCH", None),
    ]  # fmt: skip
    assert github_problems(sent) == []


def test_github_commit_status_requests_follow_the_openapi_description(tmp_path: Path) -> None:
    github_descriptions()
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    write_settings(
        home, "receivers:\n  - {name: s, type: github, status_page: 'https://status.example.invalid'}\n"
    )
    with serving(Receiver()) as github:
        env = {"GITHUB_API_URL": github.url.removesuffix("/hook"), "GITHUB_REPOSITORY": "team/flows"}
        env["GITHUB_TOKEN"] = "ghs_0123456789"
        repo.write(BROKEN).commit("a typo")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 2
        repo.write(deployment_files("a", cron="5 * * * *")).commit("the fix")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env).returncode == 0
    sent = receiver_requests(github)
    assert [s.body["state"] for s in sent] == ["failure", "pending", "success"]
    assert github_problems(sent) == []


def test_gitlab_requests_follow_its_documented_api(tmp_path: Path) -> None:
    repo, home = repository(tmp_path / "repo", ["a"]), tmp_path / "home"
    write_settings(
        home, "receivers:\n  - {name: s, type: gitlab, status_page: 'https://status.example.invalid'}\n"
    )
    with serving_forge(ForgeAPI(comments=list(OTHERS))) as notes, serving(Receiver()) as statuses:
        comment = {"CI_API_V4_URL": f"{notes.url}/api/v4", "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "3"}
        comment["CI_JOB_TOKEN"] = "job-token-0123456789"
        for _ in range(2):
            assert run_deployctl(home, "plan", "repo", "--comment", cwd=tmp_path, env=comment).returncode == 1
        status = {
            "CI_API_V4_URL": statuses.url.removesuffix("/hook") + "/api/v4",
            "CI_PROJECT_ID": "group/flows",
        }
        status["GITLAB_TOKEN"] = "glpat-0123456789"
        repo.write(BROKEN).commit("a typo")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=status).returncode == 2
        repo.write(deployment_files("a", cron="5 * * * *")).commit("the fix")
        assert run_deployctl(home, "sync", "repo", cwd=tmp_path, env=status).returncode == 0
    sent = forge_requests(notes) + receiver_requests(statuses)
    assert [s.method for s in sent] == ["GET", "GET", "POST", "GET", "GET", "PUT", "POST", "POST", "POST"]
    assert [s.body["state"] for s in sent[-3:]] == ["failed", "running", "success"]
    assert gitlab_problems(sent) == []


def test_the_github_contract_refuses_what_github_refuses() -> None:
    status = "/repos/team/flows/statuses/0123456789abcdef0123456789abcdef01234567"
    wrong = [
        Sent("POST", status, {"state": "failed", "context": "deployctl/x"}),  # GitLab's word
        Sent("POST", status, {"state": "success", "name": "deployctl/x"}),  # GitLab's field
        Sent("POST", status, None),
        Sent("GET", "/repos/team/flows/issues/7/comments?per_page=100&offset=100"),
        Sent("GET", "/repos/team/flows/issues/seven/comments"),
        Sent("PUT", "/repos/team/flows/issues/comments/1120", {"body": "x"}),  # GitLab's method
        Sent("POST", "/repos/team/flows/pulls/7/comments", {"text": "x"}),
    ]
    for description in github_descriptions():
        problems = [description.problems(s) for s in wrong]
        assert all(problems), [(s, p) for s, p in zip(wrong, problems, strict=True)]
        assert any("'failed' is not one of" in p for p in problems[0])
        assert any("name is not declared" in p for p in problems[1])


def test_the_gitlab_table_refuses_what_gitlab_refuses() -> None:
    wrong = [
        Sent(
            "POST", "/api/v4/projects/42/statuses/0123abcd", {"state": "failure", "name": "x"}
        ),  # GitHub's word
        Sent("POST", "/api/v4/projects/42/statuses/0123abcd", {"name": "x"}),
        Sent("POST", "/api/v4/projects/group/flows/statuses/0123abcd", {"state": "success"}),  # not encoded
        Sent("PATCH", "/api/v4/projects/42/merge_requests/3/notes/1000", {"body": "x"}),  # GitHub's method
        Sent("POST", "/api/v4/projects/42/merge_requests/3/notes", {"text": "x"}),
        Sent("GET", "/api/v4/projects/42/merge_requests/3/notes?per_page=many"),
    ]
    assert all(gitlab_problems([s]) for s in wrong), [(s, gitlab_problems([s])) for s in wrong]
