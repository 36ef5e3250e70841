"""An rrule with COUNT in a Prefect 2 ``deployment.yaml``: Prefect 2.20.27 refuses it, and so does
deployctl, at the rrule's line.

The file is written by Prefect 2's own ``prefect deployment build --rrule`` (which refuses
COUNT itself, so the rule is built with UNTIL and COUNT is then written in by hand, as a person
would); ``prefect deployment apply`` against the 2.20 server gives Prefect's verdict on it.
Prefect 3.9.1 accepts COUNT in a ``prefect.yaml``: ``tests/test_rrule_rules.py`` pins that side.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gitrepo import GitRepo
from tests.prefect.conftest import Prefect2

pytestmark = pytest.mark.prefect

FLOW = "from prefect import flow\n\n\n@flow(name='count-{token}')\ndef hello():\n    pass\n"
UNTIL = "FREQ=DAILY;UNTIL=20300101T000000Z"
COUNT = "FREQ=DAILY;COUNT=3"


def prefect2_command(prefect2: Prefect2, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder.parent),
        "PREFECT_API_URL": prefect2.api_url,
        "PREFECT_HOME": str(folder.parent / "prefect2-home"),
    }
    return subprocess.run(
        [str(prefect2.bin_dir / "prefect"), *args], cwd=folder, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def test_count_in_a_prefect_2_deployment_yaml_is_refused_as_prefect_2_refuses_it(
    prefect2: Prefect2, tmp_path: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    folder = repo.root / "flows"
    repo.write({"flows/flows.py": FLOW.format(token=os.urandom(4).hex())})
    build = ("deployment", "build", "flows.py:hello", "-n", "daily", "--skip-upload", "--rrule")
    refused_build = prefect2_command(prefect2, folder, *build, COUNT, "--output", "count-deployment.yaml")
    assert refused_build.returncode != 0 and "COUNT" in refused_build.stdout + refused_build.stderr
    built = prefect2_command(prefect2, folder, *build, UNTIL, "--output", "deployment.yaml")
    assert built.returncode == 0, built.stdout + built.stderr
    text = (folder / "deployment.yaml").read_text()
    assert text.count(UNTIL) == 1, text
    (folder / "deployment.yaml").write_text(text.replace(UNTIL, COUNT))
    applied = prefect2_command(prefect2, folder, "deployment", "apply", "deployment.yaml")
    assert applied.returncode != 0, applied.stdout
    assert "RRule schedules with `COUNT` are not supported" in " ".join(applied.stdout.split())
    repo.commit("COUNT written into what Prefect 2 built")

    line = 1 + text[: text.index(UNTIL)].count("\n")
    work = tmp_path / "work"
    work.mkdir()
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(
        [sys.executable, "-m", "controller", "validate", "../repo"],
        capture_output=True, text=True, timeout=120, cwd=work, env=env,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"flows/deployment.yaml:{line}:" in done.stderr and "has COUNT" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
