"""prefect.yaml projects (anchors, merge keys, placeholders, flow names) and .deployctl.yaml."""

from __future__ import annotations

from pathlib import Path

from controller.core.spec import ScheduleKind
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.conftest import FLOW_SOURCE, minimal_deployment, write_tree

PROJECT = """\
definitions:
  pool: &pool
    name: local
    work_queue_name: q1
    job_variables: {env: {A: "1"}}
deployments:
- name: one
  entrypoint: flows.py:my_flow
  parameters: {bucket: "{{ $BUCKET }}", other: "{{ prefect.variables.x }}"}
  schedules:
  - interval: PT30M
    slug: half-hourly
    parameters: {fast: true}
  - cron: "0 1 * * *"
    active: false
  work_pool: *pool
- name: two
  flow_name: named
  entrypoint: flows.py:my_flow
  paused: true
  work_pool:
    <<: *pool
    work_queue_name: q2
"""


def test_project_anchors_merge_keys_and_env(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            ".deployctl.yaml": "templating:\n  env: [BUCKET]\n",
            "proj/prefect.yaml": PROJECT,
            "proj/flows.py": "from prefect import flow\n\n@flow(name='nice-name', retries=2)\n"
            "def my_flow():\n    pass\n",
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={"BUCKET": "s3://b"})
    # Prefect names the flow after @flow whatever flow_name says (issue 9): a warning, not a new identity
    assert [(d.code, d.line, d.severity.value) for d in result.diagnostics] == [
        ("flow-name-ignored", 18, "warning")
    ]
    one, two = result.specs["nice-name/one"], result.specs["nice-name/two"]
    assert one.parameters == {"bucket": "s3://b", "other": "{{ prefect.variables.x }}"}
    assert [s.kind for s in one.schedules] == [ScheduleKind.INTERVAL, ScheduleKind.CRON]
    assert one.schedules[0].interval_seconds == 1800.0
    assert one.schedules[0].slug == "half-hourly"
    assert one.schedules[0].parameters == {"fast": True}
    assert one.schedules[1].active is False
    assert (one.work_pool_name, one.work_queue_name, one.job_variables) == (
        "local",
        "q1",
        {"env": {"A": "1"}},
    )
    assert (two.work_queue_name, two.paused, two.code_dir) == ("q2", True, "proj")
    assert two.source.path == ("deployments", 1)


def test_flow_name_defaults_to_function_name_with_dashes(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            "prefect.yaml": "deployments:\n- name: d\n  entrypoint: flows.py:my_flow\n",
            "flows.py": FLOW_SOURCE,
        },
    )
    assert list(load_manifests(DirectoryTree(repo_dir), env={}).specs) == ["my-flow/d"]


def test_repository_defaults_are_merged_manifest_wins(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            ".deployctl.yaml": "owner: team-a\ndefaults:\n  tags: [team-a]\n  parameters: {a: 1, b: 1}\n"
            "  job_variables: {env: {X: d, Y: d}}\n  work_queue_name: shared\n",
            "deployment.yaml": minimal_deployment(
                extra="tags: [etl]\nparameters: {b: 2}\nwork_queue_name: null\njob_variables: {env: {Y: m}}\n"
            ),
            "flows.py": FLOW_SOURCE,
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={})
    spec = result.specs["my_flow/daily"]
    assert result.settings.owner == "team-a"
    assert spec.tags == ("etl", "team-a")
    assert spec.parameters == {"a": 1, "b": 2}
    assert spec.job_variables == {"env": {"X": "d", "Y": "m"}}
    assert spec.work_queue_name == "shared"


def test_custom_manifest_globs_and_excludes(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            ".deployctl.yaml": "manifests: ['deploy/*.yaml']\nexclude: ['deploy/skip.yaml']\n",
            "deploy/a.yaml": minimal_deployment("a").replace("flows.py", "../flows.py"),
            "deploy/skip.yaml": "not: [valid",
            "deployment.yaml": "ignored: because the globs do not match it\n",
            "flows.py": FLOW_SOURCE,
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={})
    assert result.manifest_files == ("deploy/a.yaml",)
    assert list(result.specs) == ["my_flow/a"]


def test_bad_settings_file_is_reported_with_its_line(repo_dir: Path) -> None:
    write_tree(repo_dir, {".deployctl.yaml": "owner: x\nprune:\n  max_fraction: 2\n"})
    (diagnostic,) = load_manifests(DirectoryTree(repo_dir), env={}).diagnostics
    assert str(diagnostic) == (
        ".deployctl.yaml:3:3: prune.max_fraction: Input should be less than or equal to 1 (got int 2)"
    )


def test_is_schedule_active_false_pauses_the_deployment_as_prefect_2_does(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            "deployment.yaml": minimal_deployment(
                extra="schedule: {cron: '0 * * * *'}\nis_schedule_active: false\n"
            ),
            "flows.py": FLOW_SOURCE,
        },
    )
    spec = load_manifests(DirectoryTree(repo_dir), env={}).specs["my_flow/daily"]
    assert spec.paused is True
    assert [s.active for s in spec.schedules] == [True]


def test_infra_overrides_and_job_variables_together_are_refused(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            "deployment.yaml": minimal_deployment(
                extra="infra_overrides: {env.A: '1'}\njob_variables: {env: {A: '2'}}\n"
            ),
            "flows.py": FLOW_SOURCE,
        },
    )
    (diagnostic,) = load_manifests(DirectoryTree(repo_dir), env={}).diagnostics
    assert diagnostic.message.endswith(
        "infra_overrides and job_variables are the same setting: keep job_variables"
    )


def test_run_policy_precedence_deployment_settings_over_flow_decorator_over_defaults(repo_dir: Path) -> None:
    flows = (
        "import prefect\n\n@prefect.flow(name='etl', retries=2, timeout_seconds=RUNTIME_LIMIT)\n"
        "def run():\n    pass\n\n@flow\ndef plain():\n    pass\n"
    )
    write_tree(
        repo_dir,
        {
            ".deployctl.yaml": "defaults:\n  run: {retries: 5, retry_delay_seconds: 7, timeout_seconds: 60}\n"
            "deployments:\n  etl/special: {retries: 0, catchup: true}\n",
            "prefect.yaml": "deployments:\n- {name: normal, entrypoint: flows.py:run}\n"
            "- {name: special, entrypoint: flows.py:run}\n"
            "- {name: p, entrypoint: flows.py:plain}\n",
            "flows.py": flows,
        },
    )
    specs = load_manifests(DirectoryTree(repo_dir), env={}).specs
    normal, special, plain = specs["etl/normal"], specs["etl/special"], specs["plain/p"]
    assert (normal.run_policy.retries, normal.run_policy.retry_delay_seconds) == (2, 7)
    assert normal.run_policy.timeout_seconds == 60, "a computed @flow argument is not guessed"
    assert (special.run_policy.retries, special.run_policy.catchup) == (0, True)
    assert (plain.run_policy.retries, plain.run_policy.catchup) == (5, False)


def test_prefect_settings_are_checked_where_written(repo_dir: Path) -> None:
    settings = "prefect:\n  code: svn\n  git_credentials: ghp_not_a_reference\n  create_work_pool: true\n"
    write_tree(
        repo_dir,
        {".deployctl.yaml": settings, "deployment.yaml": minimal_deployment(), "flows.py": FLOW_SOURCE},
    )
    result = load_manifests(DirectoryTree(repo_dir), env={})
    assert [(d.file, d.line, d.field) for d in result.diagnostics] == [
        (".deployctl.yaml", 2, "prefect.code"),
        (".deployctl.yaml", 3, "prefect.git_credentials"),
        (".deployctl.yaml", 4, "prefect.create_work_pool"),
    ]
    assert "ghp_not_a_reference" not in str(result.diagnostics[1])  # it may be the token itself
    assert "block:SECRET_BLOCK_NAME or env:VARIABLE" in result.diagnostics[1].message
    good = "prefect: {code: storage, git_credentials: 'block:github-token', create_work_pools: true}\n"
    write_tree(repo_dir, {".deployctl.yaml": good})
    loaded = load_manifests(DirectoryTree(repo_dir), env={})
    assert loaded.ok and loaded.settings.prefect.model_dump(exclude_none=True) == {
        "code": "storage",
        "git_credentials": "block:github-token",
        "create_work_pools": True,
    }
