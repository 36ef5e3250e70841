"""Registry variables: ``deployctl variable set|get|ls|unset`` and ``{{ prefect.variables.x }}``.

Run as a person does: the installed ``deployctl`` command in a subprocess, only HOME set (the
default home ``~/.deployctl``), relative paths, from a folder beside the repository.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.conftest import FLOW_SOURCE, write_tree
from tests.gitrepo import GitRepo

PROJECT = """\
deployments:
- name: nightly
  entrypoint: flows.py:my_flow
  parameters: {name: "{{ prefect.variables.greeting }}"}
  work_pool:
    name: local
    job_variables:
      env: {REGION: "region-{{ prefect.variables.region }}"}
"""


def deployctl(home: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).with_name("deployctl"))
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_variables_are_set_listed_and_resolved_at_plan_time(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo").write({"prefect.yaml": PROJECT, "flows.py": FLOW_SOURCE})
    repo.commit("nightly")
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    assert deployctl(home, "variable", "ls", cwd=work).stderr.startswith("error: no registry at")
    assert deployctl(home, "variable", "set", "greeting", "hello", cwd=work).returncode == 0
    assert deployctl(home, "variable", "unset", "greeting", cwd=work).returncode == 0
    assert deployctl(home, "variable", "ls", cwd=work).stdout.startswith("no variables")
    assert deployctl(home, "variable", "set", "greeting", "hello", cwd=work).returncode == 0

    refused = deployctl(home, "plan", "../repo", cwd=work)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "prefect.yaml:8" in refused.stdout + refused.stderr
    assert "variable 'region' is not set in the registry" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr

    assert deployctl(home, "variable", "set", "region", "eu", cwd=work).returncode == 0
    listed = json.loads(deployctl(home, "variable", "ls", "-o", "json", cwd=work).stdout)
    assert listed == [{"name": "greeting", "value": "hello"}, {"name": "region", "value": "eu"}]
    synced = deployctl(home, "sync", "../repo", cwd=work)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    shown = deployctl(home, "deployment", "inspect", "my-flow/nightly", "-o", "json", cwd=work)
    record = json.loads(shown.stdout)["record"]
    assert record["parameters"] == {"name": "hello"}
    assert record["job_variables"]["env"] == {"REGION": "region-eu"}
    assert (home / ".deployctl" / "registry.db").is_file()

    assert deployctl(home, "variable", "get", "region", cwd=work).stdout == "eu\n"
    assert deployctl(home, "variable", "unset", "region", cwd=work).returncode == 0
    gone = deployctl(home, "variable", "get", "region", cwd=work)
    assert (gone.returncode, gone.stderr.strip()) == (
        2,
        "error: no variable 'region' (variables: greeting; 'deployctl variable set region VALUE')",
    )
    bad = deployctl(home, "variable", "set", "Not Valid", "x", cwd=work)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "lower-case letters" in bad.stderr


def test_offline_loading_leaves_variables_as_written(tmp_path: Path) -> None:
    write_tree(tmp_path, {"prefect.yaml": PROJECT, "flows.py": FLOW_SOURCE})
    offline = load_manifests(DirectoryTree(tmp_path), env={})
    assert offline.ok and offline.specs["my-flow/nightly"].parameters == {
        "name": "{{ prefect.variables.greeting }}"
    }
    missing = load_manifests(DirectoryTree(tmp_path), env={}, variables={"greeting": "hi"})
    assert [(d.file, d.line, d.field, d.code) for d in missing.diagnostics] == [
        ("prefect.yaml", 8, "deployments[0].work_pool.job_variables.env.REGION", "env-no-variable")
    ]
    assert missing.specs == {}
