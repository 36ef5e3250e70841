"""``deployctl deployment build`` beside Prefect 2.20.27's own ``prefect deployment build``.

Each case runs both commands with the same flow and options, each in a folder of its own (as a
person does: relative paths, started there), Prefect 2's against its server
(``DEPLOYCTL_TEST_PREFECT2_API_URL``; ``build`` needs one) from its virtualenv
(``DEPLOYCTL_TEST_PREFECT2_BIN``). The files must match field by field and line by line, except
``DIFFERENCES``; and deployctl's file must load in Prefect 2.20.27's ``Deployment.load_from_yaml``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli_helpers import run_deployctl
from tests.prefect.conftest import Prefect2

pytestmark = pytest.mark.prefect

FLOWS = '''\
from prefect import flow


@flow(name="compare-typed")
def typed(name: str, count: int = 3, ratio: float | None = None, labels: list[str] = []):
    """Typed parameters.

    Args:
        name: who
        count: how many times
    """
    return name


@flow
def defaulted(greeting: str = "hello", times: int = 1, loud: bool = False):
    return greeting
'''
# case -> (options, the file both write). Between them: every schedule kind, every --infra,
# parameters both ways, overrides, queue, pool, tags, version, description, the default name.
CASES: dict[str, tuple[list[str], str]] = {
    "cron": (["typed.py:typed", "-n", "cron", "--cron", "0 9 * * 1-5", "--timezone", "Europe/Berlin",
              "--param", "name=alice", "--param", "count=5", "-q", "etl", "-p", "a-pool", "-t", "etl",
              "-t", "daily", "-v", "1.0", "-d", "Typed, on a cron", "--infra", "process",
              "--override", "env.GREETING=hello", "--skip-upload", "-o", "cron-deployment.yaml"],
             "cron-deployment.yaml"),
    "interval": (["typed.py:defaulted", "-n", "interval", "--interval", "86400", "--anchor-date",
                  "2024-01-01T00:30:00", "--timezone", "America/New_York", "--infra", "docker-container",
                  "--skip-upload"],
                 "defaulted-deployment.yaml"),
    "rrule": (["typed.py:typed", "-n", "rrule", "--rrule", "FREQ=WEEKLY;BYDAY=MO,WE;BYHOUR=6",
               "--params", '{"name": "bo", "labels": ["x"]}', "--infra", "kubernetes-job", "--skip-upload",
               "-o", "rrule-deployment.yaml"],
              "rrule-deployment.yaml"),
}  # fmt: skip
# Fields that differ on purpose (README, "Authoring deployments the Prefect 2 way").
DIFFERENCES = {
    "timestamp": "the time of each build",
    "path": "Prefect 2 writes the build folder's absolute path for a process; deployctl null",
}


@pytest.fixture(scope="module")
def built(prefect2: Prefect2, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """case -> (Prefect 2's text, deployctl's text); Prefect 2's builds run side by side."""
    tmp = tmp_path_factory.mktemp("prefect2-build")
    started = {}
    for case, (args, _) in CASES.items():
        for tool in ("prefect", "deployctl"):
            (tmp / tool / case).mkdir(parents=True)
            (tmp / tool / case / "typed.py").write_text(FLOWS)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "PREFECT_API_URL": prefect2.api_url,
               "PREFECT_HOME": str(tmp / f"prefect-home-{case}")}  # fmt: skip
        command = [str(prefect2.bin_dir / "prefect"), "deployment", "build", *args]
        started[case] = subprocess.Popen(
            command, cwd=tmp / "prefect" / case, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
    out = {}
    for case, (args, written) in CASES.items():
        ours = run_deployctl(tmp / "home", "deployment", "build", *args, cwd=tmp / "deployctl" / case)
        assert ours.returncode == 0, ours.stderr
        output, _ = started[case].communicate(timeout=300)
        assert started[case].returncode == 0, f"prefect deployment build ({case}):\n{output}"
        texts = [(tmp / tool / case / written).read_text() for tool in ("prefect", "deployctl")]
        out[case] = (texts[0], texts[1])
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_file_is_what_prefect_2_writes(built: dict[str, tuple[str, str]], case: str) -> None:
    theirs_text, ours_text = built[case]
    theirs, ours = yaml.safe_load(theirs_text), yaml.safe_load(ours_text)
    assert list(ours) == list(theirs)
    for key in theirs:
        if key not in DIFFERENCES:
            assert ours[key] == theirs[key], f"{key}: Prefect 2 {theirs[key]!r}, deployctl {ours[key]!r}"
    assert _lines(ours_text) == _lines(theirs_text)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.split(":")[0] not in DIFFERENCES]


LOAD = """\
import json, sys
from prefect.deployments import Deployment
d = Deployment.load_from_yaml(sys.argv[1])
print(json.dumps({"name": d.name, "flow_name": d.flow_name, "entrypoint": d.entrypoint,
                  "parameters": d.parameters, "schedules": len(d.schedules),
                  "infrastructure": d.infrastructure.type}))
"""


@pytest.mark.parametrize("case", sorted(CASES))
def test_prefect_2_loads_the_file_deployctl_writes(
    built: dict[str, tuple[str, str]], prefect2: Prefect2, tmp_path: Path, case: str
) -> None:
    path = tmp_path / "deployment.yaml"
    path.write_text(built[case][1])
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PREFECT_API_URL": prefect2.api_url,
           "PREFECT_HOME": str(tmp_path / "prefect-home")}  # fmt: skip
    done = subprocess.run(
        [str(prefect2.bin_dir / "python"), "-c", LOAD, str(path)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    written = yaml.safe_load(built[case][1])
    assert loaded == {
        "name": written["name"], "flow_name": written["flow_name"], "entrypoint": written["entrypoint"],
        "parameters": written["parameters"], "schedules": len(written["schedules"]),
        "infrastructure": written["infrastructure"]["type"],
    }  # fmt: skip
