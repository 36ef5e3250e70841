"""One rrule check for manifests and for ``set-schedule`` / ``schedule create``.

The CLI refuses exactly what the deployment's own manifest would refuse: a rule that never
fires or cannot be walked (INTERVAL or COUNT below 1) everywhere, and COUNT in a Prefect 2
``deployment.yaml`` (as Prefect 2.20 refuses it) but not in a ``prefect.yaml`` (Prefect 3
accepts it). Real git repositories, the installed command as a process, HOME in tmp_path.
Prefect 2's own verdict on a file it built is in ``tests/prefect/test_prefect2_rrule_count.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo

FLOW = "def hello():\n    pass\n"
PREFECT2 = "name: a\nflow_name: hello\nentrypoint: flows.py:hello\nschedule:\n  rrule: '{rule}'\n"
PREFECT3 = "deployments:\n- name: b\n  entrypoint: flows.py:hello\n  schedules:\n  - rrule: '{rule}'\n"
GOOD = "FREQ=DAILY;INTERVAL=2"


def repo_with(root: Path, rule_a: str = GOOD, rule_b: str = GOOD) -> GitRepo:
    repo = GitRepo(root / "repo")
    repo.write(
        {
            "a/flows.py": FLOW,
            "a/deployment.yaml": PREFECT2.format(rule=rule_a),
            "b/flows.py": FLOW,
            "b/prefect.yaml": PREFECT3.format(rule=rule_b),
        }
    )
    repo.commit("two formats")
    return repo


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one line of a refusal: exit 2, no traceback."""
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def synced(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home"
    repo_with(tmp_path)
    done = run_deployctl(home, "sync", "repo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return home, tmp_path


@pytest.mark.parametrize(
    ("rule", "said"),
    [
        ("FREQ=DAILY;INTERVAL=0", "INTERVAL=0: give 1 or more"),
        ("FREQ=DAILY;INTERVAL=-1", "INTERVAL=-1: give 1 or more"),
        ("FREQ=DAILY;COUNT=0", "COUNT=0: give 1 or more"),
        ("FREQ=WEEKLY;COUNT=-2", "COUNT=-2: give 1 or more"),
        ("FREQ=YEARLY;BYWEEKNO=60", "never fires"),
    ],
)
def test_a_rule_no_manifest_accepts_is_refused_by_the_schedule_commands(
    synced: tuple[Path, Path], rule: str, said: str
) -> None:
    home, cwd = synced
    for identity in ("hello/a", "hello/b"):
        for command in (["set-schedule"], ["schedule", "create"]):
            line = refused(run_deployctl(home, "deployment", *command, identity, "--rrule", rule, cwd=cwd))
            assert line.startswith("error: ") and said in line, line
    for rule_a, rule_b, where in ((rule, GOOD, "a/deployment.yaml:5:3"), (GOOD, rule, "b/prefect.yaml:5:5")):
        folder = "prefect2" if rule_a == rule else "prefect3"
        repo_with(cwd / folder, rule_a, rule_b)
        done = run_deployctl(home, "validate", f"{folder}/repo", cwd=cwd)
        assert done.returncode == 2 and f"{where}: " in done.stderr and said in done.stderr, done.stderr


def test_count_is_refused_where_its_manifest_refuses_it(synced: tuple[Path, Path]) -> None:
    home, cwd = synced
    rule = "FREQ=DAILY;COUNT=3"
    for command in (["set-schedule"], ["schedule", "create"]):
        line = refused(run_deployctl(home, "deployment", *command, "hello/a", "--rrule", rule, cwd=cwd))
        assert "hello/a (declared in a/deployment.yaml)" in line and "has COUNT" in line, line
        assert "use UNTIL" in line, line
        done = run_deployctl(home, "deployment", *command, "hello/b", "--rrule", rule, cwd=cwd)
        assert done.returncode == 0, done.stderr
    listed = run_deployctl(home, "deployment", "schedule", "ls", "hello/a", cwd=cwd)
    assert "COUNT" not in listed.stdout and GOOD in listed.stdout, listed.stdout

    repo_with(cwd / "count-in-deployment-yaml", rule_a=rule)
    done = run_deployctl(home, "validate", "count-in-deployment-yaml/repo", cwd=cwd)
    assert done.returncode == 2, done.stderr
    assert "a/deployment.yaml:5:3: schedule.rrule: rrule 'FREQ=DAILY;COUNT=3' has COUNT" in done.stderr
    repo_with(cwd / "count-in-prefect-yaml", rule_b=rule)
    done = run_deployctl(home, "validate", "count-in-prefect-yaml/repo", cwd=cwd)
    assert done.returncode == 0, done.stderr
