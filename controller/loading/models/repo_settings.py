"""Model of the repository-level ``.deployctl.yaml``: manifest globs, defaults, owner, prune.

Read once per commit by ``controller.loading.loader``; its defaults are merged into every
deployment (the manifest wins, tags are united).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from controller.loading.models.base import StrictModel
from controller.loading.placeholders import is_secret

DEFAULT_MANIFEST_GLOBS = ("**/deployment.yaml", "**/*-deployment.yaml", "**/prefect.yaml")


class RunSettings(StrictModel):
    """How the embedded runner treats a deployment's runs; wins over the flow's @flow(...)."""

    retries: int | None = Field(None, ge=0, description="Retries of a failed run.")
    retry_delay_seconds: float | None = Field(None, ge=0, description="Wait before a retry.")
    timeout_seconds: float | None = Field(None, gt=0, description="Kill a run after this long (TimedOut).")
    catchup: bool | None = Field(None, description="Create the runs missed while the scheduler was down.")


class DeploymentDefaults(StrictModel):
    tags: list[str] = Field(default_factory=list, description="Added to every deployment's tags.")
    parameters: dict[str, Any] = Field(default_factory=dict)
    work_pool_name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)
    enforce_parameter_schema: bool | None = None
    concurrency_limit: int | None = Field(None, gt=0)
    run: RunSettings = Field(
        default_factory=RunSettings,
        description="Run settings for every deployment, below @flow(...) arguments.",
    )


class PrunePolicy(StrictModel):
    enabled: bool = Field(True, description="Delete owned deployments that left git.")
    max_fraction: float = Field(
        0.5, ge=0, le=1, description="Refuse plans deleting more than this share of owned deployments."
    )


class TemplatingSettings(StrictModel):
    env: list[str] | None = Field(
        None,
        description="The only environment variables {{ $VAR }} may read; when absent, none. "
        "DEPLOYCTL_*, PREFECT_API_KEY and PREFECT_API_AUTH_STRING are never read.",
    )

    @field_validator("env")
    @classmethod
    def _no_secrets(cls, names: list[str] | None) -> list[str] | None:
        secret = [n for n in names or [] if is_secret(n)]
        if secret:
            raise ValueError(
                f"{', '.join(secret)} can never be templated (deployctl's and Prefect's credentials): "
                "remove it from templating.env"
            )
        return names


class PrefectSettings(StrictModel):
    """How the Prefect backend writes this repository's deployments; each key wins over its
    ``DEPLOYCTL_*`` environment variable. Ignored by the embedded registry."""

    code: Literal["git", "storage"] | None = Field(
        None,
        description="How workers get the code: git (git_clone at the deployment's commit, the default) "
        "or storage (the uploaded content-addressed artifact). Env: DEPLOYCTL_PREFECT_CODE.",
    )
    git_credentials: str | None = Field(
        None,
        description="Where git_clone finds its credentials: block:SECRET_BLOCK_NAME or env:VARIABLE. "
        "Env: DEPLOYCTL_PREFECT_GIT_CREDENTIALS.",
    )
    create_work_pools: bool | None = Field(
        None,
        description="Create a missing work pool (type process) instead of refusing the plan. "
        "Env: DEPLOYCTL_CREATE_WORK_POOLS.",
    )
    default_work_pool: str | None = Field(
        None,
        min_length=1,
        description="The work pool of deployments that name none (work_pool_name: null, as Prefect 2's "
        "agent-era manifests say). Without it such deployments are refused: the server would pick a pool "
        "no worker may serve. Env: DEPLOYCTL_PREFECT_DEFAULT_WORK_POOL.",
    )

    @field_validator("git_credentials")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        kind, _, name = (value or "").partition(":")
        if value is not None and (kind not in ("block", "env") or not name or any(c.isspace() for c in name)):
            # the value is never echoed: it may be the very token that must not be written anywhere
            raise ValueError("use block:SECRET_BLOCK_NAME or env:VARIABLE, never the token itself")
        return value


class RepoSettings(StrictModel):
    """A repository's ``.deployctl.yaml``."""

    manifests: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MANIFEST_GLOBS),
        description="gitignore-style globs of manifest files.",
    )
    exclude: list[str] = Field(default_factory=list, description="Globs of files never read as manifests.")
    owner: str | None = Field(None, description="Owner id marking the deployments deployctl manages.")
    defaults: DeploymentDefaults = Field(default_factory=DeploymentDefaults)
    prune: PrunePolicy = Field(default_factory=PrunePolicy)
    templating: TemplatingSettings = Field(default_factory=TemplatingSettings)
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    deployments: dict[str, RunSettings] = Field(
        default_factory=dict, description="Run settings per deployment, keyed flow_name/deployment_name."
    )

    @property
    def backend_options(self) -> dict[str, Any]:
        """The settings a registry reads beside the manifests (``prefect:``), those set only."""
        return self.prefect.model_dump(exclude_none=True)
