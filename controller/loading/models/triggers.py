"""Model of a deployment's ``triggers:``, as Prefect 3.9.1's ``prefect deploy`` reads them.

Mirrors ``prefect.events.schemas.deployment_triggers``: event, metric, compound and sequence
triggers, with the automation's name, description and enabled, and the run-deployment
action's parameters, job variables and delay. Prefect 2's block ``deployment.yaml`` writes the
same shape (event and metric). ``trigger_record`` turns one into the plain JSON a spec keeps:
Prefect's defaults filled in, durations in seconds, event sets sorted, so that two ways of
writing one trigger compare equal. Used by ``project`` and ``block_deployment``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, PlainSerializer, field_validator, model_validator

from controller.loading.models.base import StrictModel, tagged

Seconds = Annotated[
    timedelta,
    PlainSerializer(lambda value: value.total_seconds(), return_type=float),
    Field(description="Seconds, or an ISO-8601 duration (PT5M)."),
]
ResourceSpec = dict[str, str | list[str]]
"""Labels a resource must carry (``prefect.resource.id: prefect.flow-run.*``)."""

PROACTIVE_MINIMUM = timedelta(seconds=10)
METRIC_MINIMUM = timedelta(seconds=300)


def _event_set(value: list[str]) -> list[str]:
    """Prefect keeps these as sets: order and repeats carry no meaning."""
    return sorted(set(value))


def _not_negative(value: timedelta | None) -> timedelta | None:
    if value is not None and value < timedelta(0):
        raise ValueError("must not be negative")
    return value


class EventTrigger(StrictModel):
    """Fires on the presence (Reactive) or absence (Proactive) of events."""

    type: Literal["event"] = "event"
    match: ResourceSpec = Field(default_factory=dict, description="Labels of the events' resource.")
    match_related: ResourceSpec | list[ResourceSpec] = Field(
        default_factory=dict, description="Labels of a related resource (or one of several)."
    )
    after: list[str] = Field(default_factory=list, description="Events that must come first.")
    expect: list[str] = Field(default_factory=list, description="Events expected (any when empty).")
    for_each: list[str] = Field(default_factory=list, description="Labels to evaluate separately.")
    posture: Literal["Reactive", "Proactive"] = "Reactive"
    threshold: int = Field(1, description="Events needed (Reactive) or expected (Proactive).")
    within: Seconds = Field(timedelta(0), description="The period the events must fall in.")
    metric: None = Field(None, description="Written as null by Prefect 2's older trigger model.")

    _sets = field_validator("after", "expect", "for_each")(lambda cls, v: _event_set(v))
    _within = field_validator("within")(lambda cls, v: _not_negative(v))

    @model_validator(mode="after")
    def _proactive_window(self) -> EventTrigger:
        if self.posture == "Proactive":
            if not self.within:  # Prefect's own default for a Proactive trigger
                object.__setattr__(self, "within", PROACTIVE_MINIMUM)
            elif self.within < PROACTIVE_MINIMUM:
                raise ValueError("within of a Proactive trigger must be at least 10 seconds")
        return self


class MetricQuery(StrictModel):
    name: str = Field(description="lateness, duration or successes (Prefect Cloud).")
    threshold: float
    operator: Literal["<", "<=", ">", ">="]
    range: Seconds = Field(METRIC_MINIMUM, description="Look-back period, at least 300 seconds.")
    firing_for: Seconds = Field(METRIC_MINIMUM, description="Breach duration, at least 300 seconds.")

    @field_validator("range", "firing_for")
    @classmethod
    def _five_minutes(cls, value: timedelta) -> timedelta:
        if value < METRIC_MINIMUM:
            raise ValueError("must be at least 300 seconds (5 minutes)")
        return value


class MetricTrigger(StrictModel):
    """Fires on a metric of the matching resources (evaluated by Prefect Cloud only)."""

    type: Literal["metric"] = "metric"
    match: ResourceSpec = Field(default_factory=dict)
    match_related: ResourceSpec | list[ResourceSpec] = Field(default_factory=dict)
    posture: Literal["Metric"] = "Metric"
    metric: MetricQuery


class CompoundTrigger(StrictModel):
    """Fires when ``require`` of its triggers (a number, ``any`` or ``all``) fired ``within``."""

    type: Literal["compound"] = "compound"
    triggers: list[InnerTrigger]  # type: ignore[valid-type]  # a runtime-built union, defined below
    within: Seconds | None = None
    require: int | Literal["any", "all"]

    _within = field_validator("within")(lambda cls, v: _not_negative(v))

    @model_validator(mode="after")
    def _requirable(self) -> CompoundTrigger:
        if isinstance(self.require, int) and not 1 <= self.require <= len(self.triggers):
            raise ValueError(f"require must be from 1 to the number of triggers ({len(self.triggers)})")
        return self


class SequenceTrigger(StrictModel):
    """Fires when its triggers fired in this order ``within``."""

    type: Literal["sequence"] = "sequence"
    triggers: list[InnerTrigger]  # type: ignore[valid-type]  # a runtime-built union, defined below
    within: Seconds | None = None

    _within = field_validator("within")(lambda cls, v: _not_negative(v))


class _Automation(StrictModel):
    """The automation's own fields and those of its run-deployment action."""

    name: str | None = Field(None, description="Default: DEPLOYMENT__automation_N (N from 1).")
    description: str = ""
    enabled: bool = True
    parameters: dict[str, Any] | None = Field(None, description="Run parameters; null: the deployment's.")
    job_variables: dict[str, Any] | None = Field(None, description="Null: the deployment's.")
    schedule_after: Seconds = Field(timedelta(0), description="Delay before the run starts.")

    _after = field_validator("schedule_after")(lambda cls, v: _not_negative(v))


class DeploymentEventTrigger(_Automation, EventTrigger):
    pass


class DeploymentMetricTrigger(_Automation, MetricTrigger):
    pass


class DeploymentCompoundTrigger(_Automation, CompoundTrigger):
    pass


class DeploymentSequenceTrigger(_Automation, SequenceTrigger):
    pass


def _kind(value: Any) -> str:
    """Prefect's discriminator: ``type`` if given, else guessed from the keys (event by default)."""
    if not isinstance(value, dict):
        return str(getattr(value, "type", "event"))
    if "type" in value:
        return str(value["type"])
    if value.get("posture") == "Metric":
        return "metric"
    if "triggers" in value:
        return "compound" if "require" in value else "sequence"
    return "event"


def _union(family: str, models: tuple[type[StrictModel], ...]) -> Any:
    def discriminate(value: Any) -> str:
        return f"{family}-{_kind(value)}"

    members = [tagged(f"{family}-{kind}", m) for kind, m in zip(KINDS, models, strict=True)]
    return Annotated[
        Union[tuple(members)],  # noqa: UP007 - a runtime-built union needs the Union[...] form
        Discriminator(
            discriminate,
            custom_error_type="trigger_type",
            custom_error_message="type must be event, metric, compound or sequence",
        ),
    ]


KINDS = ("event", "metric", "compound", "sequence")
InnerTrigger = _union("trigger", (EventTrigger, MetricTrigger, CompoundTrigger, SequenceTrigger))
DeploymentTrigger = _union(
    "deployment-trigger",
    (DeploymentEventTrigger, DeploymentMetricTrigger, DeploymentCompoundTrigger, DeploymentSequenceTrigger),
)
CompoundTrigger.model_rebuild()
SequenceTrigger.model_rebuild()
for _model in (DeploymentCompoundTrigger, DeploymentSequenceTrigger):
    _model.model_rebuild()

AUTOMATION_FIELDS = frozenset(_Automation.model_fields)


def trigger_record(trigger: StrictModel, deployment_name: str, position: int) -> dict[str, Any]:
    """The JSON a spec keeps of the ``position``-th (from 1) trigger: the automation's fields,
    the run's ``parameters``, ``job_variables`` and ``schedule_after``, and the ``trigger``
    itself as Prefect's model dumps it."""
    dumped = trigger.model_dump(mode="json")
    record = {key: dumped.pop(key) for key in sorted(AUTOMATION_FIELDS)}
    record["name"] = record["name"] or f"{deployment_name}__automation_{position}"
    record["trigger"] = _without_null_metric(dumped)
    return record


def _without_null_metric(trigger: dict[str, Any]) -> dict[str, Any]:
    if trigger.get("type") == "event":
        trigger.pop("metric", None)
    for inner in trigger.get("triggers", ()):
        _without_null_metric(inner)
    return trigger
