"""Command behaviour in-process: identifiers never guessed, work queues, plan formats, help, schema."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from controller.cli import main
from tests.cli_helpers import invoke, one_clear_line
from tests.gitrepo import deployment_files, repository


def _synced(tmp_path: Path, names: list[str]) -> Path:
    repo = repository(tmp_path / "repo", names)
    assert invoke(tmp_path, "sync", str(repo.root)).exit_code == 0
    return repo.root


def test_a_run_id_prefix_matching_several_runs_is_an_error_listing_them(tmp_path: Path) -> None:
    _synced(tmp_path, ["a"])
    ids = []
    for _ in range(17):  # 17 ids over 16 hex digits: two share their first character
        created = invoke(tmp_path, "deployment", "run", "etl/a", "--start-in", "1h")
        ids.append(created.stdout.split()[3])
    first, _ = Counter(i[0] for i in ids).most_common(1)[0]
    sharing = [i for i in ids if i.startswith(first)]
    line = one_clear_line(invoke(tmp_path, "flow-run", "inspect", first))
    assert f"matches {len(sharing)} flow runs" in line and all(i in line for i in sharing)
    for wildcard in ("%", "_", first + "%"):
        assert "no flow run" in one_clear_line(invoke(tmp_path, "flow-run", "inspect", wildcard))
    assert json.loads(invoke(tmp_path, "flow-run", "inspect", ids[0][:13]).stdout)["id"] == ids[0]


def test_flow_run_state_filter_is_case_insensitive(tmp_path: Path) -> None:
    _synced(tmp_path, ["a"])
    invoke(tmp_path, "deployment", "run", "etl/a", "--start-in", "1h")
    for state in ("scheduled", "SCHEDULED", "Scheduled"):
        rows = json.loads(invoke(tmp_path, "flow-run", "ls", "--state", state, "-o", "json").stdout)
        assert [r["deployment"] for r in rows] == ["etl/a"], state


def test_schedules_are_addressed_by_unique_slugs_never_by_position(tmp_path: Path) -> None:
    _synced(tmp_path, ["a"])
    add = ["deployment", "schedule", "create", "etl/a", "--interval", "3600"]
    assert invoke(tmp_path, *add, "--slug", "hourly").exit_code == 0
    assert "already has a schedule 'hourly'" in one_clear_line(invoke(tmp_path, *add, "--slug", "hourly"))
    assert invoke(tmp_path, *add).exit_code == 0
    slugs = [
        s["slug"]
        for s in json.loads(invoke(tmp_path, "deployment", "schedule", "ls", "etl/a", "-o", "json").stdout)
    ]
    assert slugs == ["schedule-0", "hourly", "schedule-2"]
    assert "no schedule '1'" in one_clear_line(
        invoke(tmp_path, "deployment", "schedule", "pause", "etl/a", "1")
    )
    assert invoke(tmp_path, "deployment", "schedule", "pause", "etl/a", "hourly").exit_code == 0
    shown = json.loads(invoke(tmp_path, "deployment", "schedule", "ls", "etl/a", "-o", "json").stdout)
    assert [s["active"] for s in shown] == [True, False, True]


def test_a_schedule_created_with_interval_zero_is_one_clear_line(tmp_path: Path) -> None:
    _synced(tmp_path, ["a"])
    create = ["deployment", "schedule", "create", "etl/a", "--rrule", "FREQ=HOURLY;INTERVAL=0"]
    assert "has INTERVAL=0: give 1 or more" in one_clear_line(invoke(tmp_path, *create))


def test_work_queue_create_inspect_delete_and_unknown_queues(tmp_path: Path) -> None:
    _synced(tmp_path, ["a"])
    assert invoke(tmp_path, "work-queue", "create", "gpu", "--limit", "2").exit_code == 0
    assert "exists already" in one_clear_line(invoke(tmp_path, "work-queue", "create", "gpu"))
    shown = json.loads(invoke(tmp_path, "work-queue", "inspect", "gpu", "-o", "json").stdout)
    assert shown == [{"name": "gpu", "concurrency_limit": 2, "paused": False, "active_runs": 0}]
    assert "used by 1 deployment" in one_clear_line(invoke(tmp_path, "work-queue", "delete", "default"))
    for verb in (["pause"], ["resume"], ["set-concurrency-limit", "nope", "3"]):
        args = [*verb, "nope"] if len(verb) == 1 else verb
        assert "no work queue 'nope'" in one_clear_line(invoke(tmp_path, "work-queue", *args))
    assert invoke(tmp_path, "work-queue", "delete", "gpu").exit_code == 0
    names = [q["name"] for q in json.loads(invoke(tmp_path, "work-queue", "ls", "-o", "json").stdout)]
    assert names == ["default"]


def test_plan_reports_conflicts_in_every_format_and_exits_2_like_sync(tmp_path: Path) -> None:
    theirs = repository(tmp_path / "theirs", ["a"])
    assert invoke(tmp_path, "sync", str(theirs.root), "--owner", "team-a").exit_code == 0
    ours = repository(tmp_path / "ours", ["a", "b"])
    markdown = invoke(tmp_path, "plan", str(ours.root), "--owner", "team-b", "-o", "markdown")
    assert markdown.exit_code == 2
    assert "| conflict | `etl/a` |" in markdown.stdout and "| create | `etl/b` |" in markdown.stdout
    assert "No changes." not in markdown.stdout
    as_json = json.loads(invoke(tmp_path, "plan", str(ours.root), "--owner", "team-b", "-o", "json").stdout)
    assert as_json["conflicts"] == ["etl/a"]
    assert invoke(tmp_path, "sync", str(ours.root), "--owner", "team-b").exit_code == 2


def test_markdown_shows_frozen_files_and_says_no_changes_only_when_there_is_nothing(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    assert invoke(tmp_path, "sync", str(repo.root)).exit_code == 0
    nothing = invoke(tmp_path, "plan", str(repo.root), "-o", "markdown")
    assert nothing.exit_code == 0 and nothing.stdout.strip().endswith("No changes.")
    repo.write({"flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\nshedule: {}\n"})
    repo.write(deployment_files("a", cron="5 * * * *")).commit("break b, change a")
    partial = invoke(tmp_path, "plan", str(repo.root), "--partial", "-o", "markdown").stdout
    assert "| frozen | `etl/b` |" in partial and "`schedules[0].cron: 0 * * * * -> 5 * * * *`" in partial
    assert "unknown key 'shedule'" in partial and "No changes." not in partial


def _commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = []
    for name, command in group.commands.items():
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_every_command_and_option_has_help_and_globals_name_their_variables() -> None:
    for path, command in _commands(main):
        assert (command.help or "").strip(), f"deployctl {' '.join(path)} has no help"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help",):
                assert (param.help or "").strip(), f"deployctl {' '.join(path)} {param.opts[0]} has no help"
    for param in main.params:
        if isinstance(param, click.Option) and param.envvar:
            assert f"env {param.envvar}" in (param.help or ""), param.opts


def test_schema_outside_the_source_tree_explains_itself_and_writes_on_request(tmp_path: Path) -> None:
    line = one_clear_line(invoke(tmp_path, "schema"))
    assert "no schemas/ folder here" in line and "stale" not in line
    written = invoke(tmp_path, "schema", "--write", "editor-schemas")
    assert written.exit_code == 0 and len(list((tmp_path / "editor-schemas").glob("*.schema.json"))) == 4
    assert invoke(tmp_path, "schema", "editor-schemas").exit_code == 0


def test_two_schedules_of_one_deployment_never_share_a_slug(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "flow.py").write_text("def run():\n    pass\n")
    (project / "prefect.yaml").write_text(
        "deployments:\n- name: a\n  entrypoint: flow.py:run\n  schedules:\n"
        "  - cron: '0 * * * *'\n    slug: hourly\n  - cron: '5 * * * *'\n    slug: hourly\n"
    )
    result = invoke(tmp_path, "validate", "project")
    assert result.exit_code == 2
    assert (
        "prefect.yaml:8:5: deployments[0].schedules[1].slug: slug 'hourly' is already used" in result.stderr
    )
