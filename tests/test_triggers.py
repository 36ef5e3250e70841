"""Triggers are never dropped: how they load, where a bad one is refused, and the warning a
registry that does not run them gives at the trigger's file and line (the embedded engine, as
``deployctl plan`` and ``validate`` processes with only HOME set). What becomes of them on a
Prefect server is in ``tests/prefect/test_prefect_triggers.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from controller.core.diagnostics import Severity
from controller.loading.manifests import parse_manifest
from controller.loading.models.repo_settings import DeploymentDefaults
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_TRIGGER = "flows/hello/trigger-based-deployment.yaml"

PROJECT = b"""\
deployments:
- name: nightly
  entrypoint: flows.py:etl
  triggers:
  - match: {prefect.resource.id: prefect.flow-run.*}
    expect: [b.done, a.done, a.done]
    parameters: {n: 3}
  - name: quiet
    posture: Proactive
    expect: [heartbeat]
    schedule_after: PT5M
    job_variables: {env: {MODE: late}}
  - type: sequence
    within: 01:00:00
    triggers:
    - expect: [x.started]
    - require: any
      triggers: [{expect: [x.done]}, {expect: [x.failed]}]
"""


def load(text: bytes, path: str = "prefect.yaml") -> tuple[list[dict[str, object]], list[str]]:
    parsed = parse_manifest(path, text, DeploymentDefaults(), {})
    triggers = [dict(t) for spec in parsed.specs for t in spec.triggers]
    return triggers, [str(d) for d in parsed.diagnostics]


def test_triggers_load_with_prefects_defaults_names_and_seconds() -> None:
    triggers, problems = load(PROJECT)
    assert problems == []
    first, second, third = triggers
    assert first == {
        "name": "nightly__automation_1",
        "description": "",
        "enabled": True,
        "parameters": {"n": 3},
        "job_variables": None,
        "schedule_after": 0.0,
        "trigger": {
            "type": "event",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            "match_related": {},
            "after": [],
            "expect": ["a.done", "b.done"],  # a set in Prefect: sorted, once each
            "for_each": [],
            "posture": "Reactive",
            "threshold": 1,
            "within": 0.0,
        },
    }
    assert second["name"] == "quiet" and second["schedule_after"] == 300.0
    assert second["job_variables"] == {"env": {"MODE": "late"}}
    assert second["trigger"]["within"] == 10.0  # type: ignore[index]  # Prefect's Proactive default
    sequence = third["trigger"]
    assert sequence["type"] == "sequence" and sequence["within"] == 3600.0  # type: ignore[index]
    inner = sequence["triggers"][1]  # type: ignore[index]
    assert inner["type"] == "compound" and inner["require"] == "any" and inner["within"] is None


def test_the_prefect2_block_trigger_of_the_sample_loads() -> None:
    triggers, problems = load((ROOT / "sample-repo" / SAMPLE_TRIGGER).read_bytes(), SAMPLE_TRIGGER)
    assert problems == []
    assert [t["name"] for t in triggers] == ["trigger-based__automation_1"]
    assert triggers[0]["parameters"] == {"name": "watchers of {{ event.resource.name }}"}
    assert triggers[0]["trigger"]["match_related"] == {  # type: ignore[index]
        "prefect.resource.role": "deployment",
        "prefect.resource.name": "daily",
    }


def test_a_wrong_trigger_is_refused_at_its_file_line_and_field() -> None:
    _, problems = load(
        b"""\
deployments:
- name: a
  entrypoint: flows.py:etl
  triggers:
  - expect: [a]
    posture: Proactive
    within: 5
  - type: compound
    require: 3
    triggers: [{expect: [x]}]
  - type: webhook
  - posture: Metric
    metric: {name: lateness, threshold: 1, operator: '<', range: 60}
  - expct: [a]
  - type: sequence
    triggers: [{expect: [x], parameters: {}}]
"""
    )
    at = "prefect.yaml:{}: deployments[0].triggers".format
    assert problems == [
        at("5:5") + "[0]: within of a Proactive trigger must be at least 10 seconds",
        at("8:5") + "[1]: require must be from 1 to the number of triggers (1)",
        at("11:5") + "[2]: type must be event, metric, compound or sequence",
        at("13:59") + "[3].metric.range: must be at least 300 seconds (5 minutes)",
        at("14:5") + "[4].expct: unknown key 'expct' (did you mean 'expect'?)",
        at("16:30") + "[5].triggers[0].parameters: unknown key 'parameters'; allowed keys: after, "
        "expect, for_each, match, match_related, metric, posture, threshold, type, within",
    ]


def sample_repository(root: Path) -> GitRepo:
    shutil.copytree(ROOT / "sample-repo", root)
    repo = GitRepo(root)
    repo.commit("the sample")
    return repo


def deployctl(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """As a person runs it: only HOME points somewhere new; no DEPLOYCTL_* setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    env["HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
    )


def test_the_embedded_engine_runs_the_sample_trigger_so_nothing_warns(tmp_path: Path) -> None:
    repo = sample_repository(tmp_path / "sample")
    home = tmp_path / "home"
    home.mkdir()
    planned = deployctl(home, "plan", ".", cwd=repo.root)
    assert planned.returncode == 1, planned.stdout + planned.stderr  # changes, never a refusal
    assert "+ my_flow/trigger-based" in planned.stdout and "warning" not in planned.stdout

    validated = deployctl(home, "validate", ".", cwd=repo.root)
    assert validated.returncode == 0, validated.stderr
    assert validated.stdout.strip() == "7 deployments in 6 files, 0 errors"


def test_triggers_the_embedded_engine_does_not_run_are_refused_at_their_line(tmp_path: Path) -> None:
    """Compound, sequence and metric triggers, and a template that does not parse:
    errors at their file and line for ``plan`` (exit 2, nothing applied), never dropped."""
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "flows/flows.py": "def etl(n=1):\n    pass\n",
            "flows/prefect.yaml": PROJECT.decode(),
            "flows/ok-deployment.yaml": "name: ok\nflow_name: etl\nentrypoint: flows.py:etl\ntriggers:\n"
            "- expect: [a.b]\n  parameters: {n: '{{ event.payload.n }}'}\n",
        }
    ).commit()
    home = tmp_path / "home"
    home.mkdir()
    planned = deployctl(home, "plan", ".", cwd=repo.root)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    lines = (planned.stdout + planned.stderr).splitlines()
    refusals = [line for line in lines if line.startswith("flows/") and "do not run on this registry" in line]
    assert [line.split(": ", 2)[1] for line in refusals] == ["deployments[0].triggers[2]"], refusals
    runs = "(it runs Proactive event triggers, Reactive event triggers)"
    assert f"sequence triggers do not run on this registry {runs}" in refusals[0]
    assert all(line.startswith("flows/prefect.yaml:") for line in refusals)
    assert "ok-deployment.yaml" not in planned.stdout + planned.stderr, "a Reactive trigger is run"

    repo.write({"flows/prefect.yaml": "deployments: []\n", "flows/ok-deployment.yaml": (
        "name: ok\nflow_name: etl\nentrypoint: flows.py:etl\ntriggers:\n"
        "- expect: [a.b]\n  parameters: {n: '{{ event.payload.n'}\n"
    )}).commit("a broken template")  # fmt: skip
    validated = deployctl(home, "validate", ".", cwd=repo.root)
    assert validated.returncode == 2
    assert "flows/ok-deployment.yaml:6:" in validated.stderr
    assert "triggers[0].parameters.n: template '{{ event.payload.n' does not parse" in validated.stderr


def test_a_registry_that_runs_triggers_gives_no_warning(tmp_path: Path) -> None:
    repo = sample_repository(tmp_path / "sample")
    home = tmp_path / "home"
    home.mkdir()
    env_registry = {"DEPLOYCTL_REGISTRY": "prefect+http://127.0.0.1:9/api"}  # never opened by validate
    done = subprocess.run(
        [sys.executable, "-m", "controller", "validate", "."],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo.root,
        env={"PATH": os.environ["PATH"], "HOME": str(home), **env_registry},
    )
    assert done.returncode == 0, done.stderr
    assert "will not fire" not in done.stdout + done.stderr
    assert done.stdout.strip().endswith("7 deployments in 6 files, 0 errors")


def test_the_warning_is_a_warning_and_keeps_the_deployment() -> None:
    from controller.loading.loader import load_manifests, warn_triggers
    from controller.loading.tree import DirectoryTree

    tree = DirectoryTree(ROOT / "sample-repo")
    warned = warn_triggers(load_manifests(tree), tree)
    notes = [d for d in warned.diagnostics if d.code == "trigger-not-run"]
    assert [(d.file, d.field, d.severity) for d in notes] == [
        (SAMPLE_TRIGGER, "triggers[0]", Severity.WARNING)
    ]
    assert warned.ok and "my_flow/trigger-based" in warned.specs
