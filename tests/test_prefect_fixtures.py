"""Files written by real `prefect deployment build` (2.14 and 2.20) load into the right specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core.spec import ScheduleKind
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree

FIXTURES = Path(__file__).parent / "fixtures" / "prefect"


@pytest.fixture(params=["2.14", "2.20"])
def loaded(request: pytest.FixtureRequest):
    result = load_manifests(DirectoryTree(FIXTURES / request.param), env={})
    assert result.diagnostics == ()
    return result


def test_both_shapes_load_the_same_four_deployments(loaded) -> None:
    assert sorted(loaded.specs) == ["my_flow/blocks", "my_flow/daily", "my_flow/hourly", "my_flow/weekly"]


def test_cron_with_params_overrides_and_tags(loaded) -> None:
    daily = loaded.specs["my_flow/daily"]
    (schedule,) = daily.schedules
    assert (schedule.kind, schedule.cron, schedule.timezone, schedule.day_or, schedule.active) == (
        ScheduleKind.CRON,
        "0 9 * * *",
        "Europe/Berlin",
        True,
        True,
    )
    assert daily.parameters == {"name": "alice", "count": 3}
    assert daily.job_variables == {"env": {"LOG_LEVEL": "DEBUG"}}
    assert daily.tags == ("daily", "etl")
    assert daily.entrypoint == "flows.py:my_flow"
    assert daily.code_dir == "."
    assert daily.parameter_openapi_schema["properties"]["count"]["type"] == "integer"


def test_interval_keeps_anchor_and_zone(loaded) -> None:
    (schedule,) = loaded.specs["my_flow/hourly"].schedules
    assert schedule.kind is ScheduleKind.INTERVAL
    assert schedule.interval_seconds == 3600.0
    assert schedule.anchor_date == "2024-01-01T00:30:00+00:00"
    assert schedule.timezone == "America/New_York"


def test_rrule(loaded) -> None:
    (schedule,) = loaded.specs["my_flow/weekly"].schedules
    assert (schedule.kind, schedule.rrule, schedule.timezone) == (
        ScheduleKind.RRULE,
        "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=6",
        "UTC",
    )


def test_saved_storage_and_infrastructure_blocks(loaded) -> None:
    spec = loaded.specs["my_flow/blocks"]
    assert spec.infrastructure.type == "process"
    assert spec.infrastructure.block_name == "team-process"
    assert spec.infrastructure.settings["env"] == {"TEAM": "data"}
    assert spec.storage is not None
    assert spec.storage["_block_document_name"] == "team-storage"
    assert "_block_document_id" not in spec.storage
    assert spec.work_queue_name == "etl-queue"
    assert spec.schedules[0].timezone == "UTC"


def test_the_two_prefect_versions_mean_the_same_thing() -> None:
    old = load_manifests(DirectoryTree(FIXTURES / "2.14"), env={}).specs
    new = load_manifests(DirectoryTree(FIXTURES / "2.20"), env={}).specs
    for identity in old:
        assert old[identity].schedules == new[identity].schedules
        assert old[identity].parameter_openapi_schema == new[identity].parameter_openapi_schema
