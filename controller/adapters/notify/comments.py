"""One pull-request comment, found by a hidden marker and updated in place: GitHub and GitLab.

``deployctl plan --comment`` posts its markdown plan on the pull request (GitHub) or merge
request (GitLab) and edits that same comment on every later push, so a pull request never
collects stale plans. GitHub: the issue comments API (list, ``PATCH`` by id, ``POST``); GitLab:
merge-request notes (list, ``PUT`` by id, ``POST``). Pages of 100 are read until the marker is
found. Every failure is a ``TransientError`` naming the forge and the HTTP status, never the
token. Built by ``controller.app`` from what the CI system sets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from controller.errors import ConfigError, TransientError, UsageError

PAGE = 100


@dataclass(frozen=True)
class PullRequest:
    forge: str  # "github" or "gitlab"
    api: str
    repository: str  # owner/name, or a GitLab project's id or path
    number: int
    token: str = field(repr=False)
    job_token: bool = False  # GitLab's CI_JOB_TOKEN rather than a project or personal token


class PullRequestComments:
    def __init__(self, pr: PullRequest, transport: httpx.BaseTransport | None = None) -> None:
        self.pr = pr
        headers = {"User-Agent": "deployctl"}
        if pr.forge == "github":
            headers |= {
                "Authorization": f"Bearer {pr.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
            self.base = f"{pr.api}/repos/{pr.repository}/issues"
        else:
            headers["JOB-TOKEN" if pr.job_token else "PRIVATE-TOKEN"] = pr.token
            self.base = f"{pr.api}/projects/{quote(pr.repository, safe='')}/merge_requests/{pr.number}"
        self.client = httpx.Client(headers=headers, timeout=30, transport=transport)

    def upsert(self, marker: str, body: str) -> str:
        """Create or update the comment that holds ``marker``; "created" or "updated"."""
        text = f"{marker}\n{body}"
        try:
            found = self._find(marker)
            if found is None:
                self._call("POST", self._list_url(), text)
                return "created"
            self._call("PATCH" if self.pr.forge == "github" else "PUT", self._item_url(found), text)
            return "updated"
        finally:
            self.client.close()

    def _list_url(self) -> str:
        github = self.pr.forge == "github"
        return f"{self.base}/{self.pr.number}/comments" if github else f"{self.base}/notes"

    def _item_url(self, item: int) -> str:
        return f"{self.base}/comments/{item}" if self.pr.forge == "github" else f"{self.base}/notes/{item}"

    def _find(self, marker: str) -> int | None:
        page = 1
        while True:
            items = self._call("GET", self._list_url(), params={"per_page": PAGE, "page": page})
            if not isinstance(items, list):
                raise TransientError(f"{self.pr.forge}: the comments of #{self.pr.number} are not a list")
            for item in items:
                if isinstance(item, dict) and marker in str(item.get("body", "")):
                    return int(item["id"])
            if len(items) < PAGE:
                return None
            page += 1

    def _call(
        self, method: str, url: str, body: str | None = None, params: dict[str, int] | None = None
    ) -> Any:
        try:
            response = self.client.request(
                method, url, json={"body": body} if body is not None else None, params=params
            )
        except httpx.HTTPError as exc:
            problem = f"{self.pr.forge}: cannot reach {self.pr.api} ({type(exc).__name__})"
            raise TransientError(problem) from None
        if response.status_code in (401, 403, 404):
            raise UsageError(
                f"{self.pr.forge} answered {response.status_code} to {method} on #{self.pr.number} of "
                f"{self.pr.repository}: check the token's permission to comment (pull-requests: write, or "
                "the api scope) and the repository"
            )
        if not response.is_success:
            raise TransientError(
                f"{self.pr.forge} answered {response.status_code} to {method}; retry the job"
            )
        return response.json() if response.content else None


def pull_request_from_env(env: Mapping[str, str], number: int | None = None) -> PullRequest:
    """The pull request a CI job runs for, from what GitHub Actions or GitLab CI sets;
    ``number`` (``--pull-request``) wins over the event's. ``ConfigError`` when none is found."""
    if env.get("GITHUB_REPOSITORY"):
        token = env.get("GITHUB_TOKEN", "")
        if not token:
            raise ConfigError(
                "plan --comment on GitHub needs GITHUB_TOKEN (env: GITHUB_TOKEN: ${{ github.token }})"
            )
        api = env.get("GITHUB_API_URL") or "https://api.github.com"
        pr = number or _event_number(env)
        return PullRequest("github", api.rstrip("/"), env["GITHUB_REPOSITORY"], pr, token)
    if env.get("CI_PROJECT_ID"):
        iid = number or _int(env.get("CI_MERGE_REQUEST_IID"))
        if iid is None:
            raise ConfigError(
                "plan --comment: CI_MERGE_REQUEST_IID is not set; run it in a merge-request pipeline"
            )
        token, job = env.get("GITLAB_TOKEN", ""), False
        if not token:
            token, job = env.get("CI_JOB_TOKEN", ""), True
        if not token:
            raise ConfigError(
                "plan --comment on GitLab needs GITLAB_TOKEN (a token with the api scope) or CI_JOB_TOKEN"
            )
        api = env.get("CI_API_V4_URL") or "https://gitlab.com/api/v4"
        return PullRequest("gitlab", api.rstrip("/"), env["CI_PROJECT_ID"], iid, token, job)
    raise ConfigError(
        "plan --comment: no pull request here: run it in GitHub Actions (GITHUB_REPOSITORY, GITHUB_TOKEN, "
        "GITHUB_EVENT_PATH) or a GitLab merge-request pipeline (CI_PROJECT_ID, CI_MERGE_REQUEST_IID)"
    )


def _event_number(env: Mapping[str, str]) -> int:
    path = env.get("GITHUB_EVENT_PATH", "")
    try:
        event = json.loads(Path(path).read_text()) if path else {}
    except (OSError, ValueError) as exc:
        problem = f"GITHUB_EVENT_PATH {path} cannot be read as JSON ({exc}); pass --pull-request N"
        raise ConfigError(problem) from None
    pull = event.get("pull_request") if isinstance(event, dict) else None
    found = _int(pull.get("number")) if isinstance(pull, dict) else None
    if found is None:
        raise ConfigError(
            "plan --comment: the GitHub event is not a pull request's (GITHUB_EVENT_PATH); "
            "run it on pull_request, or pass --pull-request N"
        )
    return found


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
