"""Issue 9: the same files mean what Prefect makes of them (prefect.yaml as ``prefect deploy``
reads it, deployment.yaml as Prefect 2.20's agent applies it), and nothing is dropped silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from controller.core.diagnostics import Severity
from controller.core.records import to_record
from controller.loading.loader import LoadResult, load_manifests
from controller.loading.tree import DirectoryTree
from controller.runtime.flow_environment import infrastructure_settings
from tests.conftest import FLOW_SOURCE, minimal_deployment, write_tree

TYPED_FLOW = '''\
from enum import Enum
from typing import Optional
from prefect import flow


class Mode(str, Enum):
    FAST = "fast"
    SLOW = "slow"


@flow(name="etl-flow")
def my_flow(day: str, n: int = 2, mode: Mode = Mode.FAST, ids: Optional[list[int]] = None, x: "Odd" = 1):
    """Load one day.

    Args:
        day: The day to load.
    """
'''


def load(repo_dir: Path, files: dict[str, str], env: dict[str, str] | None = None) -> LoadResult:
    write_tree(repo_dir, files)
    return load_manifests(DirectoryTree(repo_dir), env=env or {})


def warnings(result: LoadResult) -> list[str]:
    return [str(d) for d in result.diagnostics if d.severity is Severity.WARNING]


def test_prefect_yaml_takes_name_description_and_schema_from_the_flow(repo_dir: Path) -> None:
    result = load(
        repo_dir,
        {
            "flows.py": TYPED_FLOW,
            "prefect.yaml": "deployments:\n- name: x\n  flow_name: custom-flow-name\n"
            "  entrypoint: flows.py:my_flow\n",
        },
    )
    assert result.ok and list(result.specs) == ["etl-flow/x"]
    spec = result.specs["etl-flow/x"]
    assert spec.description == "Load one day.\n\nArgs:\n    day: The day to load."
    assert spec.enforce_parameter_schema is True
    schema = spec.parameter_openapi_schema
    assert schema["required"] == ["day"]
    assert schema["properties"]["day"] == {
        "type": "string",
        "title": "day",
        "position": 0,
        "description": "The day to load.",
    }
    assert schema["properties"]["mode"] == {
        "$ref": "#/definitions/Mode",
        "title": "mode",
        "position": 2,
        "default": "fast",
    }
    assert schema["definitions"]["Mode"] == {"enum": ["fast", "slow"], "title": "Mode", "type": "string"}
    assert schema["properties"]["x"] == {"title": "x", "position": 4, "default": 1}
    assert warnings(result) == [
        "prefect.yaml:3:3: warning: deployments[0].flow_name: flow_name 'custom-flow-name' is not used: "
        "Prefect names the deployment after the flow's @flow name, so it is 'etl-flow/x'; remove flow_name",
        "prefect.yaml:4:3: warning: deployments[0].entrypoint: parameter 'x' of my_flow() has an annotation "
        "deployctl cannot read without importing the flow: its schema accepts any value",
    ]


def test_parameters_the_signature_refuses_are_errors_at_their_line(repo_dir: Path) -> None:
    project = "deployments:\n- name: x\n  entrypoint: flows.py:my_flow\n  parameters:\n    day: d\n"
    result = load(
        repo_dir, {"flows.py": TYPED_FLOW, "prefect.yaml": project + "    n: many\n    mode: fastest\n"}
    )
    assert [str(d).split(": the flow")[0] for d in result.diagnostics if d.severity is Severity.ERROR] == [
        "prefect.yaml:6:5: deployments[0].parameters.n: 'many' is not of type 'integer'",
        "prefect.yaml:7:5: deployments[0].parameters.mode: 'fastest' is not one of ['fast', 'slow']",
    ]
    assert load(repo_dir, {"prefect.yaml": project + "    n: 3\n"}).ok
    relaxed = project + "    n: many\n  enforce_parameter_schema: false\n"
    assert load(repo_dir, {"prefect.yaml": relaxed}).ok


def test_an_explicit_setting_wins_over_the_flow(repo_dir: Path) -> None:
    result = load(
        repo_dir,
        {
            "flows.py": TYPED_FLOW,
            "prefect.yaml": "deployments:\n- name: x\n  entrypoint: flows.py:my_flow\n"
            "  description: mine\n  enforce_parameter_schema: false\n",
        },
    )
    spec = result.specs["etl-flow/x"]
    assert (spec.description, spec.enforce_parameter_schema) == ("mine", False)


PREFECT_3_FIELDS = """\
deployments:
- name: x
  entrypoint: flows.py:my_flow
  version: '1.4'
  version_type: vcs:git
  concurrency_limit: {limit: 2, collision_strategy: CANCEL_NEW}
  schedules:
  - rrule: '{"rrule": "DTSTART:20260101T090000\\nRRULE:FREQ=DAILY;COUNT=30", "timezone": "Europe/Berlin"}'
    slug: daily
    replaces: old-daily
- name: y
  entrypoint: flows.py:my_flow
  schedules: null
"""


def test_prefect_3_fields_are_accepted_and_unused_ones_warned_once(repo_dir: Path) -> None:
    result = load(repo_dir, {"flows.py": FLOW_SOURCE, "prefect.yaml": PREFECT_3_FIELDS})
    assert result.ok, result.diagnostics
    x, y = result.specs["my-flow/x"], result.specs["my-flow/y"]
    assert (x.concurrency_limit, x.collision_strategy, x.declared_version) == (2, "CANCEL_NEW", "1.4")
    (schedule,) = x.schedules
    assert (schedule.rrule, schedule.timezone, schedule.slug) == (
        "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=30",
        "Europe/Berlin",
        "daily",
    )
    assert y.schedules == ()
    (warning,) = warnings(result)
    assert warning.startswith(
        "prefect.yaml:4:3: warning: deployments[0].version: not used by deployctl: deployments[0].version, "
        "deployments[0].version_type, deployments[0].concurrency_limit.collision_strategy, "
        "deployments[0].schedules[0].replaces ("
    )
    assert "version: kept as the declared version" in warning and "replaces: scheduled runs" in warning
    assert to_record(x)["collision_strategy"] == "CANCEL_NEW"


# `prefect init --recipe local` (3.9.1) as it writes its template, with name, entrypoint and pool filled in.
PREFECT_INIT = """\
name: repo
prefect-version: 3.9.1
build: null
push: null
deployments:
- name: from-init
  version: null
  tags: []
  description: null
  schedule: {}
  flow_name: null
  entrypoint: flows.py:my_flow
  parameters: {}
  work_pool:
    name: local
    work_queue_name: null
    job_variables: {}
"""


def test_the_prefect_init_template_filled_in_has_no_schedule(repo_dir: Path) -> None:
    """``schedule: {}`` is "none", as ``prefect deploy`` reads it; not a schedule without a kind."""
    result = load(repo_dir, {"flows.py": FLOW_SOURCE, "prefect.yaml": PREFECT_INIT})
    assert result.ok, result.diagnostics
    spec = result.specs["my-flow/from-init"]
    assert (spec.schedules, spec.work_pool_name, spec.work_queue_name) == ((), "local", "default")


def test_unknown_keys_stay_errors_with_a_hint(repo_dir: Path) -> None:
    bad = PREFECT_3_FIELDS.replace("replaces:", "replace:")
    (diagnostic,) = load(repo_dir, {"flows.py": FLOW_SOURCE, "prefect.yaml": bad}).diagnostics[:1]
    assert str(diagnostic) == (
        "prefect.yaml:10:5: deployments[0].schedules[0].replace: unknown key 'replace' "
        "(did you mean 'replaces'?)"
    )


def test_schedule_run_caps_and_catchup_are_refused_not_dropped(repo_dir: Path) -> None:
    extra = "schedules:\n- schedule: {cron: '0 * * * *'}\n  catchup: true\n  max_active_runs: 3\n"
    result = load(repo_dir, {"flows.py": FLOW_SOURCE, "deployment.yaml": minimal_deployment(extra=extra)})
    assert [(d.line, d.field, d.message.split(" (")[0].split(":")[0]) for d in result.diagnostics] == [
        (6, "schedules[0].catchup", "catchup per schedule is not supported"),
        (7, "schedules[0].max_active_runs", "max_active_runs is not supported by deployctl"),
    ]
    quiet = "schedules:\n- schedule: {cron: '0 * * * *'}\n  catchup: false\n  max_active_runs: null\n"
    assert load(repo_dir, {"deployment.yaml": minimal_deployment(extra=quiet)}).ok


BLOCK = """\
infrastructure:
  type: process
  env: {A: a, B: b}
  stream_output: true
"""


def test_plain_env_override_replaces_env_and_dotted_sets_one_key(repo_dir: Path) -> None:
    replaced = load(
        repo_dir,
        {
            "flows.py": FLOW_SOURCE,
            "deployment.yaml": minimal_deployment(extra=BLOCK + "infra_overrides:\n  env: {C: c}\n"),
        },
    )
    settings = infrastructure_settings(to_record(replaced.specs["my_flow/daily"]))
    assert settings["env"] == {"C": "c"}
    dotted = load(
        repo_dir, {"deployment.yaml": minimal_deployment(extra=BLOCK + "infra_overrides:\n  env.C: c\n")}
    )
    assert infrastructure_settings(to_record(dotted.specs["my_flow/daily"]))["env"] == {
        "A": "a",
        "B": "b",
        "C": "c",
    }


def test_stream_output_string_is_coerced_as_prefect_block_validation_does(repo_dir: Path) -> None:
    text = minimal_deployment(extra=BLOCK + "infra_overrides:\n  stream_output: 'false'\n")
    spec = load(repo_dir, {"flows.py": FLOW_SOURCE, "deployment.yaml": text}).specs["my_flow/daily"]
    assert spec.infrastructure.settings["stream_output"] is False
    assert infrastructure_settings(to_record(spec))["stream_output"] is False
    bad = minimal_deployment(extra=BLOCK + "infra_overrides:\n  stream_output: perhaps\n")
    (diagnostic,) = load(repo_dir, {"deployment.yaml": bad}).diagnostics
    assert (diagnostic.line, diagnostic.field) == (9, "infra_overrides.stream_output")


def test_validate_from_the_command_line_shows_the_flow_name_warning(tmp_path: Path) -> None:
    """The real command, HOME only, a relative path, started from the parent folder."""
    write_tree(
        tmp_path / "repo",
        {
            "flows.py": TYPED_FLOW,
            "prefect.yaml": "deployments:\n- name: x\n  flow_name: custom\n  entrypoint: flows.py:my_flow\n",
        },
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {
        "HOME": str(tmp_path / "h")
    }
    done = subprocess.run(
        [sys.executable, "-m", "controller", "validate", "repo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "prefect.yaml:3:3: warning: deployments[0].flow_name: flow_name 'custom' is not used" in done.stdout
    )
