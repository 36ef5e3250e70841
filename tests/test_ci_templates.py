"""The CI templates as shipped: ``action.yml`` (GitHub Actions) and ``deploy/ci/gitlab-ci.yml``.

Both validate against their CI system's published schema (vendored by check-jsonschema, run
offline as its CLI). Then their own steps run (``tests.ci_runners`` reads them from the files)
with the variables GitHub Actions and GitLab CI set, in a git repository made from
``sample-repo``, with HOME in a temporary folder: deployctl is installed the way the template
installs it (pip, from a copy of this repository), the plan lands as one comment on a fake
forge API on loopback, and the sync on the default branch applies into an embedded registry
and sets the commit status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ci_runners import (
    EXPRESSION,
    StepRun,
    evaluate,
    github_lookup,
    gitlab_job_runs,
    run_action,
    run_gitlab_job,
)
from tests.cli_helpers import run_deployctl
from tests.forges import ForgeAPI, serving_forge
from tests.gitrepo import GitRepo
from tests.receivers import Receiver, serving
from tests.test_notifications import write_settings

ROOT = Path(__file__).resolve().parent.parent
ACTION, GITLAB = ROOT / "action.yml", ROOT / "deploy" / "ci" / "gitlab-ci.yml"
TOKEN = "ghs_actions-token-0123456789"
CI_PREFIXES = ("DEPLOYCTL_", "PREFECT_", "GITHUB_", "GITLAB_", "CI_", "RUNNER_", "VIRTUAL_ENV")


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(command), "--builtin-schema", schema, str(path)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("template", "schema"), [(ACTION, "vendor.github-actions"), (GITLAB, "vendor.gitlab-ci")]
)
def test_the_templates_validate_against_their_ci_systems_schemas(
    template: Path, schema: str, tmp_path: Path
) -> None:
    done = check_jsonschema(schema, template)
    assert done.returncode == 0, done.stdout + done.stderr
    # The same schema refuses a template broken the way people break them.
    document = yaml.safe_load(template.read_text())
    if template == ACTION:
        del document["runs"]["steps"][1]["shell"]  # a composite run step must name its shell
    else:
        document["deployctl-sync"]["rules"][0]["when"] = "sometimes"
    broken = tmp_path / template.name
    broken.write_text(yaml.safe_dump(document))
    assert check_jsonschema(schema, broken).returncode != 0


def this_repository(folder: Path) -> Path:
    """A copy of the files of this repository that git knows (what a checkout of it holds)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for relative in filter(None, listed):
        source = ROOT / relative
        if source.is_file():
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / relative)
    return folder


def flows_repository(folder: Path) -> str:
    """``sample-repo`` as a repository of its own on ``main``; its commit, checked out with a
    detached HEAD, as GitLab's runner always leaves it and actions/checkout does for a pull
    request (a template that leaves deployctl to find the branch is refused there)."""
    shutil.copytree(ROOT / "sample-repo", folder)
    repo = GitRepo(folder)
    commit = repo.commit("flows")
    repo.git("checkout", "--quiet", "--detach")
    return commit


def base_env(tmp_path: Path, home: Path) -> dict[str, str]:
    """This machine's environment as a CI job starts with it: no CI variables, no deployctl
    settings, this test's virtualenv off PATH (deployctl is what the template installs), a
    ``python3`` on PATH (as setup-python or an image provides), HOME in ``home``."""
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "python3").symlink_to(getattr(sys, "_base_executable", sys.executable))
    venv_bin = str(Path(sys.executable).parent)
    path = [tools, *(p for p in os.environ["PATH"].split(":") if p != venv_bin)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(CI_PREFIXES) and k != "CI"}
    # pip's cache is under HOME: keep the machine's, so the install does not download again.
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    return env | {"HOME": str(home), "PATH": ":".join(map(str, path)), "CI": "true"}


def github_env(
    tmp_path: Path, home: Path, event_name: str, event: dict[str, object], ref: str
) -> dict[str, str]:
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    event_path = runner_temp / "event.json"
    event_path.write_text(json.dumps(event))
    (runner_temp / "path").touch()
    (runner_temp / "env").touch()
    return base_env(tmp_path, home) | {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": "team/flows",
        "GITHUB_REF": ref,
        "GITHUB_REF_NAME": ref.removeprefix("refs/heads/").removeprefix("refs/pull/"),
        "GITHUB_WORKSPACE": str(tmp_path / "flows"),
        "GITHUB_ACTION_PATH": str(this_repository(tmp_path / "deployctl")),
        "GITHUB_PATH": str(runner_temp / "path"),
        "GITHUB_ENV": str(runner_temp / "env"),
        "RUNNER_TEMP": str(runner_temp),
    }


def deployments_in(registry: str, home: Path, cwd: Path) -> str:
    listed = run_deployctl(home, "--registry", registry, "deployment", "ls", cwd=cwd)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


PULL_REQUEST = {
    "action": "synchronize",
    "number": 7,
    "pull_request": {"number": 7},
    "repository": {"full_name": "team/flows", "default_branch": "main"},
}
PUSH = {"ref": "refs/heads/main", "repository": {"full_name": "team/flows", "default_branch": "main"}}


def test_github_action_plans_on_the_pull_request_as_one_comment(tmp_path: Path) -> None:
    flows_repository(tmp_path / "flows")
    home = tmp_path / "home"
    env = github_env(tmp_path, home, "pull_request", PULL_REQUEST, "refs/pull/7/merge")
    with serving_forge(ForgeAPI()) as github:
        env["GITHUB_API_URL"] = github.url
        steps = run_action(ACTION, {}, env, tmp_path / "flows", TOKEN)
    assert [(s.name, s.ran, s.returncode) for s in steps] == [
        ("Install deployctl", True, 0),
        ("Plan on the pull request", True, 0),  # deployctl's exit 1 (changes) passes the step
        ("Sync the default branch", False, 0),
    ], [s.stderr for s in steps]
    assert "created the plan comment" in steps[1].stderr
    assert github.writes() == [("POST", "/repos/team/flows/issues/7/comments")]
    (comment,) = github.comments
    assert comment["body"].startswith("<!-- deployctl plan: data-team -->")
    assert "| create | `my_flow/daily` |" in comment["body"]
    assert github.requests[-1][2]["Authorization"] == f"Bearer {TOKEN}"
    assert (
        str(tmp_path / "runner-temp" / "deployctl" / "bin") in (tmp_path / "runner-temp" / "path").read_text()
    )


def test_github_action_syncs_the_default_branch_into_the_registry(tmp_path: Path) -> None:
    commit = flows_repository(tmp_path / "flows")
    home = tmp_path / "home"
    write_settings(home, "receivers:\n  - {name: commit-status, type: github}\n")
    registry = f"sqlite:///{tmp_path / 'ci-registry.db'}"
    env = github_env(tmp_path, home, "push", PUSH, "refs/heads/main")
    with serving(Receiver()) as github:
        env["GITHUB_API_URL"] = github.url.removesuffix("/hook")
        steps = run_action(
            ACTION, {"registry": registry, "args": "--owner data-team"}, env, tmp_path / "flows", TOKEN
        )
    assert [(s.name, s.ran, s.returncode) for s in steps] == [
        ("Install deployctl", True, 0),
        ("Plan on the pull request", False, 0),
        ("Sync the default branch", True, 0),
    ], [s.stderr for s in steps]
    listed = deployments_in(registry, tmp_path / "elsewhere", tmp_path)
    assert "my_flow/daily" in listed and "sales-etl/hourly-emea" in listed
    assert [(r.path, r.json()["state"]) for r in github.requests] == [
        (f"/repos/team/flows/statuses/{commit}", "pending"),
        (f"/repos/team/flows/statuses/{commit}", "success"),
    ]
    assert github.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("event_name", "ref_name", "plans", "syncs"),
    [
        ("pull_request", "7/merge", True, False),
        ("pull_request_target", "main", True, False),
        ("push", "main", False, True),
        ("push", "MAIN", False, True),  # GitHub compares strings ignoring case
        ("push", "feature", False, False),
        ("schedule", "main", False, False),
    ],
)
def test_github_action_step_conditions(event_name: str, ref_name: str, plans: bool, syncs: bool) -> None:
    github = {"event_name": event_name, "ref_name": ref_name, "event": PUSH}
    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    conditions = [EXPRESSION.sub(r"\1", s["if"]) for s in steps if "if" in s]
    lookup = github_lookup({"github": github})
    assert [bool(evaluate(c, lookup, fold_case=True)) for c in conditions] == [plans, syncs]


def gitlab_variables(tmp_path: Path, api: str, **pipeline: str) -> dict[str, str]:
    """What GitLab sets for a job of this pipeline, and what the project sets (token, package)."""
    return {
        "GITLAB_CI": "true",
        "CI_API_V4_URL": f"{api}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_PROJECT_DIR": str(tmp_path / "flows"),
        "CI_DEFAULT_BRANCH": "main",
        "CI_JOB_TOKEN": "job-token-0123456789",
        "GITLAB_TOKEN": "glpat-project-token-0123",
        "DEPLOYCTL_PACKAGE": str(this_repository(tmp_path / "deployctl")),
        **pipeline,
    }


def image_env(tmp_path: Path, home: Path) -> dict[str, str]:
    """The job image's environment: a Python of its own first on PATH, as python:3.11 has."""
    image = tmp_path / "image-python"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(image)], check=True)
    env = base_env(tmp_path, home)
    return env | {"PATH": f"{image / 'bin'}:{env['PATH']}"}


def run_the_one_job(tmp_path: Path, home: Path, variables: dict[str, str]) -> StepRun:
    """The template's one job that this pipeline gets, run as the runner runs it."""
    jobs = [j for j in ("deployctl-plan", "deployctl-sync") if gitlab_job_runs(GITLAB, j, variables)]
    assert len(jobs) == 1, jobs
    job = run_gitlab_job(GITLAB, jobs[0], variables, image_env(tmp_path, home), tmp_path / "flows")
    assert job.returncode == 0, job.stderr
    return job


def test_gitlab_template_plans_on_the_merge_request_as_one_note(tmp_path: Path) -> None:
    commit = flows_repository(tmp_path / "flows")
    home = tmp_path / "home"
    with serving_forge(ForgeAPI()) as gitlab:
        variables = gitlab_variables(
            tmp_path, gitlab.url, CI_PIPELINE_SOURCE="merge_request_event", CI_MERGE_REQUEST_IID="3",
            CI_COMMIT_SHA=commit, CI_COMMIT_REF_NAME="feature",
        )  # fmt: skip
        job = run_the_one_job(tmp_path, home, variables)
    assert job.name == "deployctl-plan"
    assert "created the plan comment" in job.stderr
    assert gitlab.writes() == [("POST", "/api/v4/projects/42/merge_requests/3/notes")]
    (note,) = gitlab.comments
    assert "| create | `my_flow/daily` |" in note["body"]
    assert gitlab.requests[-1][2]["PRIVATE-TOKEN"] == "glpat-project-token-0123"


def test_gitlab_template_syncs_the_default_branch_into_the_registry(tmp_path: Path) -> None:
    commit = flows_repository(tmp_path / "flows")
    home = tmp_path / "home"
    write_settings(home, "receivers:\n  - {name: commit-status, type: gitlab}\n")
    registry = f"sqlite:///{tmp_path / 'ci-registry.db'}"
    with serving(Receiver()) as gitlab:
        variables = gitlab_variables(
            tmp_path, gitlab.url.removesuffix("/hook"), CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main",
            CI_COMMIT_SHA=commit, DEPLOYCTL_REGISTRY=registry,
        )  # fmt: skip
        job = run_the_one_job(tmp_path, home, variables)
    assert job.name == "deployctl-sync"
    listed = deployments_in(registry, tmp_path / "elsewhere", tmp_path)
    assert "my_flow/daily" in listed and "sales-etl/hourly-emea" in listed
    assert [(r.path, r.json()["state"]) for r in gitlab.requests] == [
        (f"/api/v4/projects/42/statuses/{commit}", "running"),
        (f"/api/v4/projects/42/statuses/{commit}", "success"),
    ]
    assert gitlab.requests[0].headers["PRIVATE-TOKEN"] == "glpat-project-token-0123"


def test_gitlab_template_without_a_package_stops_at_one_clear_line(tmp_path: Path) -> None:
    flows_repository(tmp_path / "flows")
    home = tmp_path / "home"
    variables = {"CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"}
    assert not gitlab_job_runs(GITLAB, "deployctl-sync", {**variables, "CI_COMMIT_BRANCH": "feature"})
    job = run_gitlab_job(GITLAB, "deployctl-sync", variables, base_env(tmp_path, home), tmp_path / "flows")
    assert job.returncode != 0
    assert "set DEPLOYCTL_PACKAGE to what pip installs deployctl from" in job.stderr
