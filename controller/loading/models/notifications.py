"""Model of the notification settings file: receivers, the events each wants, delivery limits.

One file for the controller and for CI, outside the repository (nothing secret is ever
committed): ``DEPLOYCTL_NOTIFICATIONS`` names it, else ``$DEPLOYCTL_HOME/notifications.yaml``
is read when it exists. Secrets are named (an environment variable or a file), never written
here. Parsed by ``controller.loading.notification_settings``; its JSON Schema is in ``schemas/``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from controller.loading.models.base import StrictModel

EventName = Literal["applied", "refused", "failed", "drift_restored", "recovered", "held", "released"]
ALL_EVENTS: tuple[EventName, ...] = (
    "applied", "refused", "failed", "drift_restored", "recovered", "held", "released",
)  # fmt: skip


class ReceiverSettings(StrictModel):
    """One receiver: where to post, how to sign, which events."""

    name: str = Field(min_length=1, description="Shown in logs instead of the URL (which may be a secret).")
    type: Literal["webhook", "slack", "googlechat", "msteams", "github", "gitlab"] = Field(
        description="webhook: the JSON notice, signed with HMAC-SHA256 in X-Signature when a secret is "
        "set (as Flux's generic-hmac provider); slack, googlechat: a Slack or Google Chat incoming "
        "webhook; msteams: a Microsoft Teams workflow webhook (an Adaptive Card); github, gitlab: a "
        "commit status (context deployctl/OWNER) on the commit a pass applied or refused."
    )
    url: str | None = Field(
        None,
        description="The URL, when it is no secret (a chat's webhook URL is one). github, gitlab: the API "
        "base URL [GITHUB_API_URL or CI_API_V4_URL, else the public service's].",
    )
    url_env: str | None = Field(None, description="An environment variable holding the URL.")
    url_file: str | None = Field(None, description="A file holding the URL (a mounted secret).")
    secret_env: str | None = Field(
        None,
        description="webhook: an environment variable holding the HMAC key; github, gitlab: the token "
        "[GITHUB_TOKEN or GITLAB_TOKEN].",
    )
    secret_file: str | None = Field(
        None, description="webhook: a file holding the HMAC key; github, gitlab: the token."
    )
    repository: str | None = Field(
        None,
        description="github: owner/name [GITHUB_REPOSITORY]; gitlab: the project's id or path "
        "[CI_PROJECT_ID].",
    )
    status_page: str | None = Field(None, description="github, gitlab: the link a commit status carries.")
    events: list[EventName] = Field(
        default_factory=lambda: list(ALL_EVENTS), description="The events sent to this receiver [all]."
    )
    timeout_seconds: float = Field(5.0, gt=0, le=120, description="Per request.")

    @model_validator(mode="after")
    def _one_url(self) -> ReceiverSettings:
        given = [k for k in ("url", "url_env", "url_file") if getattr(self, k)]
        forge = self.type in ("github", "gitlab")
        if len(given) != 1 and not (forge and given in ([], ["url"])):
            raise ValueError("set exactly one of url, url_env or url_file" + " (or none)" * forge)
        if (self.repository or self.status_page) and not forge:
            raise ValueError("repository and status_page are for github and gitlab receivers")
        if self.secret_env and self.secret_file:
            raise ValueError("set secret_env or secret_file, not both")
        if self.type in ("slack", "googlechat", "msteams") and (self.secret_env or self.secret_file):
            raise ValueError("a chat webhook is not signed: its URL is the secret (url_env or url_file)")
        return self


class NotificationSettings(StrictModel):
    """deployctl's notification settings (``notifications.yaml``)."""

    receivers: list[ReceiverSettings] = Field(default_factory=list)
    attempts: int = Field(5, ge=1, le=20, description="Deliveries tried per notice (500, 429, timeouts).")
    queue_size: int = Field(
        100, ge=1, le=10_000, description="Notices waiting per receiver; past it, new ones are dropped."
    )
    drain_seconds: float = Field(
        10.0, ge=0, le=300, description="How long a finishing sync or controller waits for deliveries."
    )
