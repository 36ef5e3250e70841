"""``deployctl deployment build | apply`` and ``controller.Deployment`` (issue 27), as a person runs them.

Real processes of the installed command, started in the flow's folder with relative paths and
``HOME`` in a temporary folder; real git repositories; the embedded registry in that HOME.
The comparison with Prefect 2.20.27's own ``build`` is in ``tests/prefect/test_prefect2_build.py``.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo

FLOW = '''\
from prefect import flow


@flow(name="greeter")
def hello(name: str, count: int = 1, loud: bool = False):
    """Say hello.

    Args:
        name: who to greet
        count: how many times
    """
    print(name * count)


def helper():
    pass
'''


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repository = GitRepo(tmp_path / "repo")
    repository.write({"flows/greet/flows.py": FLOW})
    repository.commit("a flow")
    return repository


def build(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_deployctl(home, "deployment", "build", *args, cwd=cwd)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout and "internal error" not in done.stderr
    assert len(lines) == 1, lines
    return lines[0]


def test_build_writes_the_file_prefect_2_writes(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    args = ["flows.py:hello", "-n", "nightly", "--cron", "0 3 * * *", "--timezone", "Europe/Berlin"]
    args += ["-q", "etl", "-t", "a", "-t", "b", "--param", 'name="x"', "--override", "env.FOO=bar"]
    done = build(home, folder, *args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "wrote hello-deployment.yaml (greeter/nightly)"
    text = (folder / "hello-deployment.yaml").read_text()
    header = "###\n### A complete description of a Prefect Deployment for flow 'greeter'\n###\n"
    assert text.startswith(header)
    assert "# The work queue that will handle this deployment's runs\nwork_queue_name: etl\n" in text
    assert "\n###\n### DO NOT EDIT BELOW THIS LINE\n###\nflow_name: greeter\n" in text
    data = yaml.safe_load(text)
    assert list(data)[:12] == [
        "name", "description", "version", "work_queue_name", "work_pool_name", "tags", "parameters",
        "schedule", "schedules", "is_schedule_active", "infra_overrides", "infrastructure",
    ]  # fmt: skip
    assert data["description"].startswith("Say hello.\n\nArgs:")
    assert data["entrypoint"] == "flows.py:hello"
    assert data["schedules"] == [
        {"schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin", "day_or": True}, "active": True}
    ]
    assert data["parameters"] == {"name": "x"} and data["infra_overrides"] == {"env.FOO": "bar"}
    schema = data["parameter_openapi_schema"]
    assert schema["required"] == ["name"] and schema["definitions"] is None
    assert schema["properties"]["count"] == {
        "default": 1, "description": "how many times", "position": 1, "title": "count", "type": "integer",
    }  # fmt: skip
    assert run_deployctl(home, "validate", ".", cwd=folder).returncode == 0


def test_building_again_changes_only_the_named_fields(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    first = build(home, folder, "flows.py:hello", "-n", "nightly", "--cron", "0 3 * * *", "-t", "a")
    assert first.returncode == 0, first.stderr
    path = folder / "hello-deployment.yaml"
    edited = (
        path.read_text()
        .replace("name: nightly\n", "name: nightly  # runs at night\n", 1)
        .replace("tags:\n", "\n# who looks after it\ntags:\n", 1)
        .replace("work_queue_name: default", "work_queue_name: 'default'", 1)
        .replace("- a\n", '- "a"\n', 1)
    )
    path.write_text(edited)
    done = build(home, folder, "flows.py:hello", "-n", "nightly", "--interval", "60", "-t", "c")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "updated hello-deployment.yaml: tags, schedules"
    diff = [
        line
        for line in difflib.unified_diff(edited.splitlines(), path.read_text().splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    assert diff == [
        '-- "a"',
        "+- c",
        "-    cron: 0 3 * * *",
        "-    timezone: null",
        "-    day_or: true",
        "+    interval: 60.0",
        "+    anchor_date: '2020-01-01T00:00:00+00:00'",
        "+    timezone: UTC",
    ]
    again = build(home, folder, "flows.py:hello", "-n", "nightly", "--interval", "60", "-t", "c")
    assert again.stdout.strip() == "hello-deployment.yaml is up to date"


def test_a_changed_signature_refreshes_the_schema_and_nothing_else(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    assert build(home, folder, "flows.py:hello", "-n", "nightly", "-d", "mine").returncode == 0
    (folder / "flows.py").write_text(FLOW.replace("loud: bool = False", "loud: bool = True"))
    done = build(home, folder, "flows.py:hello", "-n", "nightly")
    assert done.stdout.strip() == "updated hello-deployment.yaml: parameter_openapi_schema"
    data = yaml.safe_load((folder / "hello-deployment.yaml").read_text())
    assert data["parameter_openapi_schema"]["properties"]["loud"]["default"] is True
    assert data["description"] == "mine"


OTHER = "###\nname: other\nflow_name: greeter\nentrypoint: flows.py:hello\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.py:hello", "-n", "x"], "entrypoint file 'missing.py' does not exist"),
        (["flows.py:nope", "-n", "x"], "'flows.py' defines no top-level function 'nope'"),
        (["flows.py", "-n", "x"], "entrypoint 'flows.py' must look like path/to/file.py:function"),
        (["flows.py:hello"], "a deployment name is required: -n NAME"),
        (["flows.py:hello", "-n", "x", "--cron", "0 3 * *"], "--cron: '0 3 * *' is not a valid cron"),
        (["flows.py:hello", "-n", "x", "--cron", "0 3 * * *", "--timezone", "Europe/Berln"],
         "--timezone: unknown time zone 'Europe/Berln' (did you mean 'Europe/Berlin'?)"),
        (["flows.py:hello", "-n", "x", "--params", "{name: x}"], "--params is not valid JSON"),
        (["flows.py:hello", "-n", "x", "--params", "[1]"], "--params must be a JSON object"),
        (["flows.py:hello", "-n", "x", "--param", "name"], "--param 'name' is not KEY=VALUE"),
        (["flows.py:hello", "-n", "x", "--cron", "0 3 * * *", "--interval", "60"], "give only one of"),
        (["flows.py:hello", "-n", "x", "--infra", "lambda"], "--infra 'lambda' is not one of"),
        (["flows.py:hello", "-n", "x", "-o", "x.yml"], "--output 'x.yml' must be a .yaml file"),
        (["flows.py:hello", "-n", "x", "-o", "taken.yaml"],
         "taken.yaml: already declares the deployment greeter/other, not greeter/x"),
        (["flows.py:hello", "-n", "twin", "-o", "y-deployment.yaml"],
         "greeter/twin is already declared in twin-deployment.yaml: build with -o twin-deployment.yaml"),
        (["flows.py:hello", "-n", "x", "-o", "../x.yaml"], None),
        (["flows.py:hello", "-n", "x", "-o", "sub/x.yaml"], "the flow 'flows.py' is not inside 'sub'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    home: Path, repo: GitRepo, args: list[str], message: str | None
) -> None:
    folder = repo.root / "flows/greet"
    (folder / "taken.yaml").write_text(OTHER)
    (folder / "twin-deployment.yaml").write_text(OTHER.replace("name: other", "name: twin"))
    before = sorted(p.relative_to(repo.root) for p in repo.root.rglob("*") if ".git" not in p.parts)
    line = one_error_line(build(home, folder, *args)) if message else None
    if message is None:  # one folder up holds the flow: allowed, the entrypoint names its folder
        done = build(home, folder, *args)
        assert done.returncode == 0, done.stderr
        assert yaml.safe_load((folder.parent / "x.yaml").read_text())["entrypoint"] == "greet/flows.py:hello"
        return
    assert line.startswith("error: ") and message in line, line
    after = sorted(p.relative_to(repo.root) for p in repo.root.rglob("*") if ".git" not in p.parts)
    assert after == before and (folder / "taken.yaml").read_text() == OTHER


def test_apply_previews_the_file_and_writes_nothing(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    done = build(home, folder, "flows.py:hello", "-n", "nightly", "--apply")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == [
        "+ create greeter/nightly",
        "nothing was applied: commit hello-deployment.yaml, then run 'deployctl deployment apply "
        "hello-deployment.yaml' (or push it to the controller's branch)",
    ]
    assert not (home / ".deployctl").exists()


def test_deployment_apply_syncs_only_the_committed_files(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    assert build(home, folder, "flows.py:hello", "-n", "nightly").returncode == 0
    refused = run_deployctl(home, "deployment", "apply", "flows/greet/hello-deployment.yaml", cwd=repo.root)
    assert "flows/greet/hello-deployment.yaml is not committed at main" in one_error_line(refused)
    weekly = build(home, folder, "flows.py:hello", "-n", "weekly", "-o", "weekly-deployment.yaml")
    assert weekly.returncode == 0, weekly.stderr
    first = repo.commit("two deployments")
    done = run_deployctl(home, "deployment", "apply", "hello-deployment.yaml", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "+ greeter/nightly" in done.stdout and "weekly" not in done.stdout
    assert "Applied: 1 to create, 0 to update, 0 to delete" in done.stdout
    listed = run_deployctl(home, "deployment", "ls", "-o", "json", cwd=home)
    assert [row["id"] for row in yaml.safe_load(listed.stdout)] == ["greeter/nightly"]
    status = yaml.safe_load(run_deployctl(home, "status", "-o", "json", cwd=home).stdout)
    assert status[0]["last_applied_revision"] is None  # the rest of the commit is not applied
    assert build(home, folder, "flows.py:hello", "-n", "nightly", "-t", "late").returncode == 0
    dirty = run_deployctl(home, "deployment", "apply", "hello-deployment.yaml", cwd=folder)
    assert "hello-deployment.yaml has uncommitted changes" in one_error_line(dirty)
    preview = build(home, folder, "flows.py:hello", "-n", "nightly", "--apply").stdout.splitlines()
    assert preview[1].startswith("~ update greeter/nightly (owned by deployctl-")
    assert preview[2] == "    tags[0]: <absent> -> 'late'"
    assert preview[3].startswith("nothing was applied: commit hello-deployment.yaml, then run")
    synced = run_deployctl(home, "sync", ".", cwd=repo.root)  # the whole commit: weekly too
    assert synced.returncode == 0, synced.stderr
    assert "+ greeter/weekly" in synced.stdout and "greeter/nightly" not in synced.stdout
    status = yaml.safe_load(run_deployctl(home, "status", "-o", "json", cwd=home).stdout)
    assert status[0]["last_applied_revision"] == first


def test_deployment_apply_refuses_what_sync_refuses(home: Path, repo: GitRepo) -> None:
    folder = repo.root / "flows/greet"
    assert build(home, folder, "flows.py:hello", "-n", "nightly").returncode == 0
    repo.write({"flows/broken/deployment.yaml": "name: broken\nflow_name: x\nentrypoint: nowhere.py:run\n"})
    repo.write({"flows/greet/notes.yaml": "just: notes\n"})
    repo.commit("one broken manifest")
    refused = run_deployctl(home, "deployment", "apply", "flows/greet/hello-deployment.yaml", cwd=repo.root)
    assert "1 problem(s) in the manifests; nothing was applied" in one_error_line(refused)
    partial = run_deployctl(
        home, "deployment", "apply", "flows/greet/hello-deployment.yaml", "--partial", cwd=repo.root
    )
    assert partial.returncode == 2 and "+ greeter/nightly" in partial.stdout  # as sync --partial
    silent = run_deployctl(home, "deployment", "apply", "flows/greet/notes.yaml", "--partial", cwd=repo.root)
    assert "flows/greet/notes.yaml declares no deployment deployctl reads" in one_error_line(silent)


SCRIPT = """\
import sys
from datetime import timedelta
sys.path.insert(0, "flows/greet")
import controller
from flows import hello

d = controller.Deployment.build_from_flow(
    hello, name="scripted", schedules=[{"interval": timedelta(hours=1)}], parameters={"name": "ada"},
    work_queue_name="etl", tags=["py"], infra_overrides={"env.LEVEL": "DEBUG"},
)
print(d, d.flow_name, d.parameters)
print(d.to_yaml("flows/greet/scripted.yaml"))
back = controller.Deployment.load_yaml("flows/greet/scripted.yaml")
print(back.name, back.work_queue_name, back.schedules[0]["schedule"]["interval"], back.entrypoint)
try:
    controller.Deployment.build_from_flow("flows/greet/flows.py:nope", name="x")
except controller.errors.UsageError as exc:
    print("refused:", exc)
"""


def test_the_python_deployment_writes_the_file_to_commit(home: Path, repo: GitRepo) -> None:
    fake = repo.root / "site" / "prefect"  # the script imports the flow: a stand-in prefect
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("def flow(name=None):\n    return lambda fn: fn\n")
    done = subprocess.run(
        [sys.executable, "-c", "import controller.errors\n" + SCRIPT],
        cwd=repo.root, env={"HOME": str(home), "PYTHONPATH": str(repo.root / "site")},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Deployment(greeter/scripted) greeter {'name': 'ada'}",
        "flows/greet/scripted.yaml",
        "scripted etl 3600.0 flows.py:hello",
        "refused: 'flows/greet/flows.py' defines no top-level function 'nope'",
    ]
    assert run_deployctl(home, "validate", "flows", cwd=repo.root).returncode == 0


def test_round_trip_keeps_what_a_person_wrote() -> None:
    from controller.loading.yaml_roundtrip import update_fields

    text = textwrap.dedent(
        """\
        # top comment
        name: 'quoted'   # trailing
        tags:
            - "one"

        # before infrastructure
        infrastructure:
            type: process
            env:
                A: "1"

        ###
        ### DO NOT EDIT BELOW THIS LINE
        ###
        flow_name: f
        """
    )
    out = update_fields(text, {"infrastructure": {"type": "docker-container"}, "tags": ["one"]}, {})
    inline = '    type: process\n    env:\n        A: "1"\n'
    assert out == text.replace(inline, "    type: docker-container\n")
