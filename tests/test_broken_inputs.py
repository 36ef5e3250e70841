"""Every kind of broken manifest gives one diagnostic with the exact file, line and message."""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path

import pytest

from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.conftest import FLOW_SOURCE, minimal_deployment, write_tree

BASE = minimal_deployment()

BOMB = b"""name: x
flow_name: f
entrypoint: flows.py:my_flow
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""

CASES = {
    "yaml-syntax": (
        {"deployment.yaml": BASE + "description: broken: here\n"},
        "deployment.yaml:4:20: invalid YAML: mapping values are not allowed in this context",
    ),
    "unknown-key": (
        {"deployment.yaml": BASE + "shedule:\n  cron: '0 * * * *'\n"},
        "deployment.yaml:4:1: shedule: unknown key 'shedule' (did you mean 'schedule'?)",
    ),
    "nested-unknown-key": (
        {"deployment.yaml": BASE + "schedules:\n- schedule:\n    cron: '0 * * * *'\n  actve: false\n"},
        "deployment.yaml:7:3: schedules[0].actve: unknown key 'actve' (did you mean 'active'?)",
    ),
    "wrong-type": (
        {"deployment.yaml": BASE + "tags: etl\n"},
        "deployment.yaml:4:1: tags: expected a list, got str 'etl'",
    ),
    "missing-key": (
        {"deployment.yaml": "name: x\nflow_name: f\n"},
        "deployment.yaml:1:1: entrypoint: required key 'entrypoint' is missing",
    ),
    "bad-cron": (
        {"flows/etl/deployment.yaml": BASE + "schedules:\n- schedule:\n    cron: '61 * * * *'\n"},
        "flows/etl/deployment.yaml:6:5: schedules[0].schedule.cron: '61 * * * *' is not a valid "
        "cron expression (minute must be 0-59)",
    ),
    "bad-timezone": (
        {"deployment.yaml": BASE + "schedule:\n  cron: '0 9 * * *'\n  timezone: Europe/Berln\n"},
        "deployment.yaml:6:3: schedule.timezone: unknown time zone 'Europe/Berln' "
        "(did you mean 'Europe/Berlin'?)",
    ),
    "bad-rrule": (
        {"deployment.yaml": BASE + "schedule:\n  rrule: FREQ=SOMETIMES\n"},
        "deployment.yaml:5:3: schedule.rrule: rrule 'FREQ=SOMETIMES' cannot be parsed: "
        "invalid 'FREQ': SOMETIMES",
    ),
    "rrule-never-fires": (
        {"deployment.yaml": BASE + "schedule:\n  rrule: FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30\n"},
        "deployment.yaml:5:3: schedule.rrule: rrule 'FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30' never fires "
        "(no occurrence in 100 years of its pattern): check BYMONTH, BYMONTHDAY and BYDAY against each other",
    ),
    "rrule-interval-zero": (
        {"deployment.yaml": BASE + "schedule:\n  rrule: FREQ=DAILY;INTERVAL=0\n"},
        "deployment.yaml:5:3: schedule.rrule: rrule 'FREQ=DAILY;INTERVAL=0' has INTERVAL=0: give 1 or more "
        "(1 is every FREQ)",
    ),
    "infinite-interval": (
        {"deployment.yaml": BASE + "schedule:\n  interval: .inf\n"},
        "deployment.yaml:5:13: schedule.interval: '.inf' is not a finite number, "
        "which JSON (and Prefect's API) cannot carry",
    ),
    "nan-interval": (
        {"deployment.yaml": BASE + "schedule:\n  interval: .nan\n"},
        "deployment.yaml:5:13: schedule.interval: '.nan' is not a finite number, "
        "which JSON (and Prefect's API) cannot carry",
    ),
    "sub-second-interval": (
        {"deployment.yaml": BASE + "schedule:\n  interval: 0.000001\n"},
        "deployment.yaml:5:3: schedule.interval: interval must be at least 1 second, got 1e-06",
    ),
    "endless-interval": (
        {"deployment.yaml": BASE + "schedule:\n  interval: P99999999999W\n"},
        "deployment.yaml:5:3: schedule.interval: interval 'P99999999999W' is longer than 1000 years: "
        "use a cron or rrule schedule",
    ),
    "bad-interval": (
        {"deployment.yaml": BASE + "schedule:\n  interval: soon\n"},
        "deployment.yaml:5:3: schedule.interval: interval 'soon' is not a duration: use seconds "
        "(3600), ISO-8601 (PT1H) or HH:MM:SS (01:00:00)",
    ),
    "no-schedule-kind": (
        {"deployment.yaml": BASE + "schedule:\n  timezone: UTC\n"},
        "deployment.yaml:4:1: schedule: a schedule needs exactly one of the keys cron, interval or rrule",
    ),
    "bad-infrastructure": (
        {"deployment.yaml": BASE + "infrastructure:\n  type: ecs-task\n"},
        "deployment.yaml:4:1: infrastructure: infrastructure type must be one of: process, "
        "docker-container, kubernetes-job",
    ),
    "duplicate-identity": (
        {
            "a/deployment.yaml": BASE,
            "b/deployment.yaml": BASE,
            "a/flows.py": FLOW_SOURCE,
            "b/flows.py": FLOW_SOURCE,
        },
        "a/deployment.yaml:1:1: name: deployment 'my_flow/daily' is also declared at "
        "b/deployment.yaml:1: each flow_name/name must be declared once; rename or remove one",
    ),
    "entrypoint-file-missing": (
        {"flows/etl/deployment.yaml": BASE.replace("flows.py", "etl.py")},
        "flows/etl/deployment.yaml:3:1: entrypoint: entrypoint file 'etl.py' does not exist in "
        "'flows/etl/' (it is resolved against the manifest's folder)",
    ),
    "entrypoint-function-missing": (
        {"deployment.yaml": BASE.replace(":my_flow", ":other_flow")},
        "deployment.yaml:3:1: entrypoint: 'flows.py' defines no top-level function 'other_flow'",
    ),
    "entrypoint-escapes": (
        {"sub/deployment.yaml": BASE.replace("flows.py", "../../outside.py")},
        "sub/deployment.yaml:3:1: entrypoint: entrypoint '../../outside.py:my_flow' points "
        "outside the repository: use a path inside the manifest's folder",
    ),
    "entrypoint-absolute": (
        {"deployment.yaml": BASE.replace("flows.py", "/etc/flows.py")},
        "deployment.yaml:3:1: entrypoint: entrypoint '/etc/flows.py:my_flow' points outside the "
        "repository: use a path inside the manifest's folder",
    ),
    "env-unset": (
        {
            ".deployctl.yaml": "templating:\n  env: [ETL_TEST_UNSET]\n",
            "prefect.yaml": "deployments:\n- name: x\n  entrypoint: flows.py:my_flow\n"
            "  parameters:\n    bucket: '{{ $ETL_TEST_UNSET }}'\n",
        },
        "prefect.yaml:5:5: deployments[0].parameters.bucket: environment variable "
        "'ETL_TEST_UNSET' is not set: set it where deployctl runs, or write the value in the file",
    ),
    "not-a-mapping": (
        {"deployment.yaml": "- just\n- a list\n"},
        "deployment.yaml:1:1: file is a list; a manifest is a mapping of keys (name: …, entrypoint: …)",
    ),
    "too-large": (
        {"deployment.yaml": BASE + "description: '" + "x" * (1024 * 1024) + "'\n"},
        "deployment.yaml:1:1: file is 1,048,652 bytes; manifests are limited to 1,048,576 bytes "
        "(1 MiB): split it or move data out",
    ),
    "alias-bomb": (
        {"deployment.yaml": BOMB},
        "deployment.yaml:4:4: aliases expand this document past 100,000 nodes: write the data "
        "out once instead of repeating anchors",
    ),
    "deep-nesting": (
        {"deployment.yaml": BASE + "parameters: " + "[" * 50_000 + "]" * 50_000 + "\n"},
        "deployment.yaml:4:*: document nests deeper than 64 levels: flatten it",
    ),
    "moderate-nesting": (
        {"deployment.yaml": BASE + "parameters: {a: " + "[" * 200 + "]" * 200 + "}\n"},
        "deployment.yaml:4:*: document nests deeper than 64 levels: flatten it",
    ),
    "not-utf8": (
        {"deployment.yaml": BASE.encode() + b"description: caf\xe9\n"},
        "deployment.yaml:4:17: byte 0xe9 is not valid UTF-8: save the file as UTF-8",
    ),
    "python-tag": (
        {"deployment.yaml": BASE + "parameters: !!python/object/apply:os.system ['touch pwned']\n"},
        "deployment.yaml:4:13: tag '!!python/object/apply:os.system' is not allowed: manifests are "
        "plain data and nothing in them is executed; remove the tag",
    ),
    "multi-document": (
        {"deployment.yaml": BASE + "---\n" + BASE},
        "deployment.yaml:4:1: file holds more than one YAML document ('---'): put one manifest per file",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_input_gives_exact_diagnostic(case: str, repo_dir: Path) -> None:
    files, expected = CASES[case]
    write_tree(repo_dir, {"flows.py": FLOW_SOURCE, **files})
    started = time.perf_counter()
    result = load_manifests(DirectoryTree(repo_dir), env={})
    assert time.perf_counter() - started < 10, "hostile input must be refused quickly"
    first = str(result.diagnostics[0])
    # The column of a too-deep document depends on how far ahead the libyaml version scans.
    assert fnmatch.fnmatchcase(first, expected) if "*:" in expected else first == expected
    assert not result.ok
    assert result.specs == {}
    if case != "duplicate-identity":
        assert len(result.diagnostics) == 1


def test_python_tag_executes_nothing(repo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_tree(
        repo_dir,
        {
            "flows.py": FLOW_SOURCE,
            "deployment.yaml": BASE + "parameters: !!python/object/apply:os.system ['touch pwned']\n",
        },
    )
    monkeypatch.chdir(repo_dir)
    load_manifests(DirectoryTree(repo_dir), env={})
    assert not (repo_dir / "pwned").exists()


def test_symlink_out_of_the_repository_is_refused(tmp_path: Path, repo_dir: Path) -> None:
    (tmp_path / "secret.py").write_text(FLOW_SOURCE)
    write_tree(repo_dir, {"etl/deployment.yaml": BASE})
    (repo_dir / "etl" / "flows.py").symlink_to(tmp_path / "secret.py")
    (diagnostic,) = load_manifests(DirectoryTree(repo_dir), env={}).diagnostics
    assert str(diagnostic) == (
        f"etl/deployment.yaml:3:1: entrypoint: symlink 'etl/flows.py' -> '{tmp_path}/secret.py' "
        "leads outside the repository: the code folder must be self-contained; copy the file in instead"
    )


def test_symlinked_code_folder_content_outside_is_refused(tmp_path: Path, repo_dir: Path) -> None:
    (tmp_path / "shared").mkdir()
    write_tree(repo_dir, {"etl/deployment.yaml": BASE, "etl/flows.py": FLOW_SOURCE})
    (repo_dir / "etl" / "lib").symlink_to("../../shared")
    (diagnostic,) = load_manifests(DirectoryTree(repo_dir), env={}).diagnostics
    assert diagnostic.code == "path-escape"
    assert "symlink 'etl/lib' -> '../../shared'" in diagnostic.message


def test_one_broken_file_does_not_hide_the_others(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            "flows.py": FLOW_SOURCE,
            "good/flows.py": FLOW_SOURCE,
            "good/deployment.yaml": minimal_deployment("good"),
            "bad/deployment.yaml": "name: [\n",
            "worse/deployment.yaml": minimal_deployment("w", extra="tags: 1\n"),
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={})
    assert list(result.specs) == ["my_flow/good"]
    assert result.broken_files == {"bad/deployment.yaml", "worse/deployment.yaml"}
    assert [d.file for d in result.diagnostics] == ["bad/deployment.yaml", "worse/deployment.yaml"]


SHARED_ALIASES = {
    "shared-nine-ways-eight-deep": "l0: &l0 [x]\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)),
    "recursive": "loop: &loop [*loop]\n",
}


@pytest.mark.parametrize("shared", sorted(SHARED_ALIASES))
def test_a_refused_value_beside_shared_aliases_is_located_quickly(shared: str) -> None:
    """Locating a refused value walks each node once: aliases share nodes and may form cycles
    (a fuzz case once hung CI here). Run in a process of its own, so a regression fails, not hangs."""
    import subprocess
    import sys

    text = "bad: .inf\n" + SHARED_ALIASES[shared]  # first key: the aliases are walked before it
    probe = f"from controller.loading.safe_yaml import field_at; print(field_at({text!r}, 1, 6))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=20)
    assert done.stdout.strip() == "('bad',)", done.stderr


def test_an_environment_no_process_can_be_given_is_refused_at_load_time(repo_dir: Path) -> None:
    """Before, such a value passed validate and then aborted every claim pass of the runner."""
    files: dict[str, str | bytes] = {
        "flows.py": FLOW_SOURCE,
        "a-deployment.yaml": minimal_deployment(
            "a", extra='infrastructure:\n  type: process\n  env:\n    "A=B": x\n    C: "a\\0b"\n'
        ),
        "b-deployment.yaml": minimal_deployment("b", extra="infra_overrides:\n  env.K=V: x\n"),
        "c-deployment.yaml": minimal_deployment("c", extra='job_variables:\n  env: {"": x}\n'),
        "prefect.yaml": "deployments:\n- name: d\n  entrypoint: flows.py:my_flow\n  work_pool:\n"
        '    name: p\n    job_variables:\n      env: {"P=Q": 1}\n',
        "ok-deployment.yaml": minimal_deployment("ok", extra="job_variables:\n  env: {GREETING: hi}\n"),
    }
    write_tree(repo_dir, files)
    result = load_manifests(DirectoryTree(repo_dir), env={})
    name_refused = "a variable name cannot contain '=' or a NUL byte"
    assert [(d.file, d.line, d.field, d.message.split(":")[0]) for d in result.diagnostics] == [
        ("a-deployment.yaml", 7, "infrastructure.env.A=B", name_refused),
        ("a-deployment.yaml", 8, "infrastructure.env.C", "a value cannot contain a NUL byte"),
        ("b-deployment.yaml", 5, "infra_overrides.env.K=V", name_refused),
        ("c-deployment.yaml", 5, "job_variables.env.", "an empty variable name"),
        ("prefect.yaml", 7, "deployments[0].work_pool.job_variables.env.P=Q", name_refused),
    ]
    assert [str(i) for i in result.specs] == ["my_flow/ok"]
