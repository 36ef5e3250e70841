"""Model of Prefect 2's block-based ``deployment.yaml``, as ``prefect deployment build`` writes it.

Accepts both the 2.10–2.15 shape (one ``schedule:``) and the 2.16+ shape (a ``schedules:``
list of ``{schedule, active}``), inline or saved infrastructure blocks, and any storage block.
``timestamp``, ``manifest_path``, ``path`` and the Prefect-computed ``version`` are accepted
and ignored: the code lives beside the manifest and git gives the version.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from controller.loading.models.base import UNION_TAGS, CoreSchedule, StrictModel
from controller.loading.models.triggers import DeploymentTrigger


class _Block(StrictModel):
    """Metadata Prefect writes beside a block's fields."""

    block_type_slug: str | None = None
    block_type_slug_: str | None = Field(None, alias="_block_type_slug")
    block_document_id: str | None = Field(None, alias="_block_document_id")
    block_document_name: str | None = Field(
        None, alias="_block_document_name", description="Name of a saved block this refers to."
    )
    is_anonymous: bool | None = Field(None, alias="_is_anonymous")


class _Infrastructure(_Block):
    env: dict[str, str | None] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    command: list[str] | None = None
    stream_output: bool = True


class ProcessInfrastructure(_Infrastructure):
    type: Literal["process"]
    working_dir: str | None = None


class DockerContainerInfrastructure(_Infrastructure):
    type: Literal["docker-container"]
    image: str | None = None
    image_pull_policy: str | None = None
    image_registry: dict[str, Any] | None = None
    networks: list[str] = Field(default_factory=list)
    network_mode: str | None = None
    auto_remove: bool = False
    volumes: list[str] = Field(default_factory=list)
    memswap_limit: int | str | None = None
    mem_limit: float | str | None = None
    privileged: bool = False


class KubernetesJobInfrastructure(_Infrastructure):
    type: Literal["kubernetes-job"]
    image: str | None = None
    namespace: str | None = None
    service_account_name: str | None = None
    image_pull_policy: str | None = None
    cluster_config: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    customizations: list[dict[str, Any]] | dict[str, Any] | None = None
    job_watch_timeout_seconds: int | None = None
    pod_watch_timeout_seconds: int = 60
    finished_job_ttl: int | None = None


INFRASTRUCTURE_TYPES = ("process", "docker-container", "kubernetes-job")


def _infrastructure_type(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"infrastructure-{kind}" if kind in INFRASTRUCTURE_TYPES else None


UNION_TAGS.update(
    {
        "infrastructure-process": ProcessInfrastructure,
        "infrastructure-docker-container": DockerContainerInfrastructure,
        "infrastructure-kubernetes-job": KubernetesJobInfrastructure,
    }
)

Infrastructure = Annotated[
    Union[  # noqa: UP007
        Annotated[ProcessInfrastructure, Tag("infrastructure-process")],
        Annotated[DockerContainerInfrastructure, Tag("infrastructure-docker-container")],
        Annotated[KubernetesJobInfrastructure, Tag("infrastructure-kubernetes-job")],
    ],
    Discriminator(
        _infrastructure_type,
        custom_error_type="infrastructure_type",
        custom_error_message="infrastructure type must be one of: " + ", ".join(INFRASTRUCTURE_TYPES),
    ),
]


class DeploymentScheduleItem(StrictModel):
    """One entry of the 2.16+ ``schedules:`` list."""

    schedule: CoreSchedule
    active: bool = True
    max_active_runs: int | None = Field(None, description="Refused unless null: use concurrency_limit.")
    max_scheduled_runs: int | None = Field(None, description="Refused unless null: the scheduler decides.")
    catchup: bool = Field(False, description="Refused unless false: set catchup in .deployctl.yaml.")

    @field_validator("max_active_runs", "max_scheduled_runs")
    @classmethod
    def _no_run_caps(cls, value: int | None, info: ValidationInfo) -> int | None:
        if value is not None:
            raise ValueError(
                f"{info.field_name} is not supported by deployctl (it would be silently ignored): remove "
                "it; limit concurrent runs with concurrency_limit in .deployctl.yaml defaults"
            )
        return value

    @field_validator("catchup")
    @classmethod
    def _no_schedule_catchup(cls, value: bool) -> bool:
        if value:
            raise ValueError(
                "catchup per schedule is not supported: remove it and set catchup: true for the "
                "deployment under deployments: in .deployctl.yaml (or defaults.run.catchup)"
            )
        return value


class BlockDeploymentManifest(StrictModel):
    """A Prefect 2 ``deployment.yaml`` (block-based deployment)."""

    name: str = Field(description="Deployment name; with flow_name it is the identity.")
    flow_name: str = Field(description="Name of the flow this deploys.")
    entrypoint: str = Field(description="path/to/file.py:function, relative to this file's folder.")
    description: str | None = None
    version: str | None = Field(None, description="Ignored: deployctl versions by git commit.")
    work_queue_name: str | None = "default"
    work_pool_name: str | None = None
    tags: list[str] = Field(default_factory=list)
    parameters: dict[str, Any] = Field(default_factory=dict)
    schedule: CoreSchedule | None = None
    schedules: list[DeploymentScheduleItem] = Field(default_factory=list)
    is_schedule_active: bool | None = None
    infra_overrides: dict[str, Any] = Field(
        default_factory=dict, description="Dotted keys overriding infrastructure fields."
    )
    job_variables: dict[str, Any] = Field(default_factory=dict)
    infrastructure: Infrastructure | None = None
    storage: dict[str, Any] | None = None
    path: str | None = Field(None, description="Ignored: the build folder of whoever ran build.")
    manifest_path: str | None = Field(None, description="Ignored.")
    parameter_openapi_schema: dict[str, Any] | None = None
    enforce_parameter_schema: bool | None = None
    triggers: list[DeploymentTrigger] = Field(
        default_factory=list, description="Automations that run this deployment (Prefect server)."
    )
    timestamp: str | None = Field(None, description="Ignored.")

    @field_validator("infra_overrides")
    @classmethod
    def _overrides_apply(cls, value: dict[str, Any]) -> dict[str, Any]:
        apply_overrides({}, value)
        return value

    @model_validator(mode="after")
    def _one_schedule_shape(self) -> BlockDeploymentManifest:
        if self.schedule is not None and self.schedules:
            raise ValueError("set either schedule (Prefect < 2.16) or schedules, not both")
        if self.infra_overrides and self.job_variables:
            raise ValueError("infra_overrides and job_variables are the same setting: keep job_variables")
        return self


def apply_overrides(settings: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``settings`` with each (dotted) override set in order, as Prefect 2's agent applies
    ``infra_overrides``: ``env.A`` sets one variable, a plain ``env`` replaces the mapping.
    The mappings on each path are copied, so ``settings`` itself is left as it was."""
    result = dict(settings)
    for dotted, value in overrides.items():
        *parents, leaf = str(dotted).split(".")
        target = result
        for depth, part in enumerate(parents):
            child = target.get(part, {})
            if not isinstance(child, dict):
                where = ".".join(parents[: depth + 1])
                raise ValueError(
                    f"key '{dotted}' sets a field inside '{where}', which is not a mapping here: "
                    f"drop one of '{where}' and '{dotted}'"
                )
            target[part] = child = dict(child)
            target = child
        target[leaf] = value
    return result
