"""``{{ $VAR }}`` reads only what ``templating.env`` lists (nothing when it is absent), never
deployctl's or Prefect's credentials; an unset or unlisted variable in ``version:`` (which
deployctl does not use) is a warning, as in Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from controller.core.diagnostics import Severity
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.conftest import FLOW_SOURCE, write_tree
from tests.gitrepo import GitRepo

SECRETS = {
    "DEPLOYCTL_GIT_TOKEN": "ghp_secret_token",
    "PREFECT_API_KEY": "pnu_secret_key",
    "PREFECT_API_AUTH_STRING": "admin:secret",
}


def project(value: str, field: str = "parameters:\n    token") -> str:
    return f"deployments:\n- name: x\n  entrypoint: flows.py:my_flow\n  {field}: '{value}'\n"


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_credentials_are_never_templated(name: str, repo_dir: Path) -> None:
    write_tree(repo_dir, {"flows.py": FLOW_SOURCE, "prefect.yaml": project(f"{{{{ ${name} }}}}")})
    result = load_manifests(DirectoryTree(repo_dir), env={**SECRETS, "HOME": "/h"})
    (diagnostic,) = result.diagnostics
    assert str(diagnostic).startswith(
        f"prefect.yaml:5:5: deployments[0].parameters.token: '{{{{ ${name} }}}}' is refused: "
        "placeholders never read deployctl's or Prefect's credentials"
    )
    assert not result.specs and SECRETS[name] not in str(diagnostic)


def test_allow_list_resolves_only_listed_names(repo_dir: Path) -> None:
    write_tree(
        repo_dir,
        {
            ".deployctl.yaml": "templating:\n  env: [BUCKET]\n",
            "flows.py": FLOW_SOURCE,
            "prefect.yaml": project("{{ $BUCKET }}/{{ $HOME }}"),
        },
    )
    result = load_manifests(DirectoryTree(repo_dir), env={"BUCKET": "s3://b", "HOME": "/home/me"})
    (diagnostic,) = result.diagnostics
    assert str(diagnostic) == (
        "prefect.yaml:5:5: deployments[0].parameters.token: environment variable 'HOME' is not in "
        "templating.env of .deployctl.yaml (placeholders read only the variables listed there): add it "
        "there, or write the value in the file"
    )
    write_tree(repo_dir, {"prefect.yaml": project("{{ $BUCKET }}")})
    (spec,) = load_manifests(DirectoryTree(repo_dir), env={"BUCKET": "s3://b", "HOME": "/h"}).specs.values()
    assert spec.parameters == {"token": "s3://b"}


def test_allow_list_cannot_name_a_credential(repo_dir: Path) -> None:
    write_tree(repo_dir, {".deployctl.yaml": "templating:\n  env: [BUCKET, DEPLOYCTL_GIT_TOKEN]\n"})
    (diagnostic,) = load_manifests(DirectoryTree(repo_dir), env={}).diagnostics
    assert str(diagnostic) == (
        ".deployctl.yaml:2:3: templating.env: DEPLOYCTL_GIT_TOKEN can never be templated (deployctl's and "
        "Prefect's credentials): remove it from templating.env"
    )


@pytest.mark.parametrize("settings", ["", "templating:\n  env: [GIT_SHA]\n"], ids=["unlisted", "unset"])
def test_unset_variable_in_version_is_a_warning(repo_dir: Path, settings: str) -> None:
    files = {"flows.py": FLOW_SOURCE, "prefect.yaml": project("{{ $GIT_SHA }}", "version")}
    write_tree(repo_dir, files | ({".deployctl.yaml": settings} if settings else {}))
    result = load_manifests(DirectoryTree(repo_dir), env={})
    (diagnostic,) = result.diagnostics
    assert diagnostic.severity is Severity.WARNING and diagnostic.line == 4
    assert result.ok and list(result.specs) == ["my-flow/x"]


@pytest.mark.parametrize("name", ["AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "HOME"])
def test_without_templating_env_no_variable_is_read(repo_dir: Path, name: str) -> None:
    write_tree(repo_dir, {"flows.py": FLOW_SOURCE, "prefect.yaml": project(f"{{{{ ${name} }}}}")})
    result = load_manifests(DirectoryTree(repo_dir), env={name: "value-Qx81-of-the-runner"})
    (diagnostic,) = result.diagnostics
    assert str(diagnostic).startswith(
        f"prefect.yaml:5:5: deployments[0].parameters.token: environment variable '{name}' is not in "
        "templating.env of .deployctl.yaml"
    )
    assert not result.specs and "value-Qx81" not in str(diagnostic)


def test_validate_refuses_a_token_placeholder_from_the_command_line(tmp_path: Path) -> None:
    """The real command, HOME only, a relative path, started from the parent folder."""
    write_tree(
        tmp_path / "repo",
        {"flows.py": FLOW_SOURCE, "prefect.yaml": project("{{ $DEPLOYCTL_GIT_TOKEN }}")},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    env |= {**SECRETS, "HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "controller", "validate", "repo"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "prefect.yaml:5:5: deployments[0].parameters.token: '{{ $DEPLOYCTL_GIT_TOKEN }}' is refused" in (
        done.stderr
    )
    assert SECRETS["DEPLOYCTL_GIT_TOKEN"] not in done.stdout + done.stderr


def test_sync_never_writes_a_runner_variable_into_the_registry(tmp_path: Path) -> None:
    """The real command, HOME only: a cloud key in deployctl's environment, a manifest asking
    for it and no templating.env: refused at its line, and in no file deployctl writes."""
    value = "aws-Zq83-secret-of-the-runner"
    repo = GitRepo(tmp_path / "repo")
    repo.write({"flows.py": FLOW_SOURCE, "prefect.yaml": project("{{ $AWS_SECRET_ACCESS_KEY }}")}).commit(
        "add"
    )
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    env |= {"HOME": str(home), "AWS_SECRET_ACCESS_KEY": value}
    done = subprocess.run(
        [sys.executable, "-m", "controller", "sync", "repo"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        "prefect.yaml:5:5: deployments[0].parameters.token: environment variable 'AWS_SECRET_ACCESS_KEY' "
        "is not in templating.env" in done.stdout + done.stderr
    )
    written = [p for p in home.rglob("*") if p.is_file() and value.encode() in p.read_bytes()]
    assert written == [] and value not in done.stdout + done.stderr
