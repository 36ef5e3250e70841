"""Model of a Prefect ``prefect.yaml`` project: its ``deployments:`` list and their fields.

Anchors and merge keys are resolved by the YAML loader and ``{{ $VAR }}`` placeholders by
``controller.loading.placeholders`` before this model sees the data. The build, push and pull
steps are accepted and not run: deployctl builds from git itself.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from controller.loading.models.base import ProjectSchedule, StrictModel
from controller.loading.models.triggers import DeploymentTrigger


class WorkPool(StrictModel):
    name: str | None = None
    work_queue_name: str | None = None
    job_variables: dict[str, Any] = Field(default_factory=dict)


class ConcurrencyLimit(StrictModel):
    """Prefect 3's ``concurrency_limit: {limit, collision_strategy}``."""

    limit: int | None = Field(None, gt=0, description="Runs of this deployment at a time.")
    collision_strategy: Literal["ENQUEUE", "CANCEL_NEW"] | None = Field(
        None, description="What a run beyond the limit does: wait (ENQUEUE) or is cancelled (CANCEL_NEW)."
    )
    grace_period_seconds: int | None = Field(None, ge=0, description="Not used by deployctl.")


class ProjectDeployment(StrictModel):
    name: str = Field(description="Deployment name; with flow_name it is the identity.")
    entrypoint: str = Field(description="path/to/file.py:function, relative to prefect.yaml.")
    code: str | None = Field(
        None,
        min_length=1,
        description="This deployment's code folder, relative to prefect.yaml; it must hold the "
        "entrypoint. Only a change to its files changes the deployment. Default: prefect.yaml's "
        "folder, all of which prefect deploy ships. Prefect's own CLI ignores this key.",
    )
    flow_name: str | None = Field(None, description="Defaults to the @flow name of the entrypoint.")
    version: str | None = Field(
        None, description="Kept as the declared version; deployctl versions deployments by git commit."
    )
    version_type: str | None = Field(None, description="Not used by deployctl.")
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    schedule: ProjectSchedule | None = None
    schedules: list[ProjectSchedule] | None = Field(default_factory=list)
    paused: bool | None = None
    concurrency_limit: Annotated[int, Field(gt=0)] | ConcurrencyLimit | None = Field(
        None, description="Runs of this deployment at a time, or {limit, collision_strategy}."
    )
    parameters: dict[str, Any] = Field(default_factory=dict)
    enforce_parameter_schema: bool | None = None
    work_pool: WorkPool | None = None
    triggers: list[DeploymentTrigger] = Field(
        default_factory=list, description="Automations that run this deployment (Prefect server)."
    )
    build: list[Any] | None = None
    push: list[Any] | None = None
    pull: list[Any] | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        """``prefect init`` writes ``schedule: {}`` for "no schedule", and ``prefect deploy`` reads it so."""
        return None if value == {} else value

    @model_validator(mode="after")
    def _one_schedule_shape(self) -> ProjectDeployment:
        if self.schedule is not None and self.schedules:
            raise ValueError("set either schedule or schedules, not both")
        return self


class ProjectManifest(StrictModel):
    """A ``prefect.yaml`` project file."""

    name: str | None = None
    prefect_version: str | None = Field(None, alias="prefect-version")
    build: list[Any] | None = None
    push: list[Any] | None = None
    pull: list[Any] | None = None
    definitions: Any = Field(None, description="Free-form home for YAML anchors.")
    deployments: list[ProjectDeployment] = Field(default_factory=list)
