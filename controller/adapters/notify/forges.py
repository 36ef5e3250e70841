"""Commit statuses on GitHub and GitLab: the request that marks a commit applied or refused.

GitHub: ``POST {api}/repos/{owner}/{name}/statuses/{sha}`` with ``state`` (pending while a
pass applies, then success or failure),
``context`` ``deployctl/<owner>``, a ``description`` of at most 140 characters and, when a
status page is configured, ``target_url``; a bearer token. GitLab: ``POST
{api}/projects/{id or url-encoded path}/statuses/{sha}`` with ``state`` (running while a pass
applies, then success or failed),
``name``, ``description`` and ``target_url``; a ``PRIVATE-TOKEN``. Base URLs come from what the
CI system sets (``GITHUB_API_URL``, ``CI_API_V4_URL``), so GitHub Enterprise and a self-hosted
GitLab work. Called by ``controller.adapters.notify.receivers``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from controller.core.notices import Event, Notice

MAX_DESCRIPTION = 140


@dataclass(frozen=True)
class Forge:
    api_env: str
    api_url: str
    repository_env: str
    token_envs: tuple[str, ...]


FORGES = {
    "github": Forge("GITHUB_API_URL", "https://api.github.com", "GITHUB_REPOSITORY", ("GITHUB_TOKEN",)),
    "gitlab": Forge("CI_API_V4_URL", "https://gitlab.com/api/v4", "CI_PROJECT_ID", ("GITLAB_TOKEN",)),
}
STATES = {  # while applying, applied, refused or failed: each API's own words
    "github": ("pending", "success", "failure"),
    "gitlab": ("running", "success", "failed"),
}


def _state(kind: str, notice: Notice) -> str:
    applying, good, bad = STATES[kind]
    if notice.event is Event.APPLYING:
        return applying
    return bad if notice.severity == "error" else good


def commit_status(
    kind: str, api: str, repository: str, token: bytes, link: str, notice: Notice
) -> tuple[str, bytes, dict[str, str]] | None:
    """The request setting ``notice``'s commit status, or None when it names no commit."""
    if not notice.revision:
        return None
    description = _one_line(notice)
    if kind == "github":
        url = f"{api}/repos/{repository}/statuses/{notice.revision}"
        document = {"state": _state(kind, notice), "context": f"deployctl/{notice.owner}"}
        headers = {
            "Authorization": f"Bearer {token.decode()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
    else:
        url = f"{api}/projects/{quote(repository, safe='')}/statuses/{notice.revision}"
        document = {"state": _state(kind, notice), "name": f"deployctl/{notice.owner}"}
        headers = {"PRIVATE-TOKEN": token.decode()}
    document["description"] = description
    if link:
        document["target_url"] = link
    body = json.dumps(document, sort_keys=True).encode()
    return url, body, {**headers, "Content-Type": "application/json", "User-Agent": "deployctl"}


def _one_line(notice: Notice) -> str:
    event = notice.event.value.replace("_", " ")
    text = f"{event}: {notice.message}" if notice.message else event
    text = " ".join(text.split())
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
