"""Shared pieces of the manifest models: the strict base class and the schedule models.

Schedules are a tagged union chosen by which key is present (``cron``, ``interval`` or
``rrule``), so an error names the right fields instead of every member of the union.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from controller.loading import schedule_rules

UNION_TAGS: dict[str, type[BaseModel]] = {}
"""Tag -> model for every tagged union; error locations drop these tags."""


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


def tagged(tag: str, model: type[BaseModel]) -> Any:
    UNION_TAGS[tag] = model
    return Annotated[model, Tag(tag)]


class _Zoned(StrictModel):
    timezone: str | None = Field(None, description="IANA time zone name; UTC when omitted.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else schedule_rules.check_timezone(value)


class CronModel(_Zoned):
    cron: str = Field(description="Five-field cron expression, or @hourly/@daily/…")
    day_or: bool = Field(True, description="Combine day-of-month and day-of-week with OR.")

    _cron = field_validator("cron")(lambda cls, v: schedule_rules.check_cron(v))


class IntervalModel(_Zoned):
    interval: float | str = Field(description="Seconds, ISO-8601 duration (PT1H) or HH:MM:SS.")
    anchor_date: str | None = Field(None, description="ISO-8601 date-time the intervals start from.")

    _interval = field_validator("interval")(lambda cls, v: schedule_rules.parse_interval(v))

    @field_validator("anchor_date", mode="before")
    @classmethod
    def _anchor(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return None
        return schedule_rules.normalise_anchor_date(value, info.data.get("timezone"))


class RRuleModel(_Zoned):
    rrule: str = Field(
        description='RFC 5545 recurrence rule, or Prefect\'s JSON form {"rrule": …, "timezone": …}.'
    )

    _rrule = field_validator("rrule")(lambda cls, v: schedule_rules.check_rrule(v))

    @model_validator(mode="before")
    @classmethod
    def _json_form(cls, value: Any) -> Any:
        """``prefect deploy`` reads an rrule that parses as JSON as RRuleSchedule's fields; a
        timezone written beside it wins over the one inside."""
        if isinstance(value, dict) and isinstance(value.get("rrule"), str):
            inner = schedule_rules.rrule_json(value["rrule"])
            if inner is not None:
                return {
                    **value,
                    **inner,
                    **({"timezone": value["timezone"]} if value.get("timezone") else {}),
                }
        return value


class Prefect2RRuleModel(RRuleModel):
    """An rrule in a Prefect 2 ``deployment.yaml``: no COUNT, as Prefect 2.20 has it."""

    _prefect2_rrule = field_validator("rrule")(lambda cls, v: schedule_rules.check_prefect2_rrule(v))


def _schedule_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        keys: Any = value
    elif isinstance(value, BaseModel):
        keys = type(value).model_fields
    else:
        return None
    for kind in ("cron", "interval", "rrule"):
        if kind in keys:
            return kind
    return None


_NO_KIND = "a schedule needs exactly one of the keys cron, interval or rrule"


def schedule_union(
    family: str, cron: type[BaseModel], interval: type[BaseModel], rrule: type[BaseModel]
) -> Any:
    def discriminate(value: Any) -> str | None:
        kind = _schedule_kind(value)
        return f"{family}-{kind}" if kind else None

    return Annotated[
        Union[  # noqa: UP007 - a runtime-built union needs the Union[...] form
            tagged(f"{family}-cron", cron),
            tagged(f"{family}-interval", interval),
            tagged(f"{family}-rrule", rrule),
        ],
        Discriminator(discriminate, custom_error_type="schedule_kind", custom_error_message=_NO_KIND),
    ]


CoreSchedule = schedule_union("schedule", CronModel, IntervalModel, Prefect2RRuleModel)
"""A schedule as Prefect's block-based deployment.yaml writes it (no slug, no active)."""


class _ScheduleExtras(StrictModel):
    active: bool = Field(True, description="Whether this schedule creates runs.")
    slug: str | None = Field(None, description="Stable name of this schedule in the deployment.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Parameters overlaid on the deployment's for its runs."
    )
    replaces: str | None = Field(
        None, description="Slug of the schedule this one replaces (Prefect); not used: runs follow the slug."
    )


class ProjectCron(_ScheduleExtras, CronModel):
    pass


class ProjectInterval(_ScheduleExtras, IntervalModel):
    pass


class ProjectRRule(_ScheduleExtras, RRuleModel):
    pass


ProjectSchedule = schedule_union("project-schedule", ProjectCron, ProjectInterval, ProjectRRule)
"""A schedule in prefect.yaml or .deployctl.yaml, which may carry active, slug, parameters."""
