"""The container image, without a Docker engine: the Dockerfile's promises are read from it, and its
command line runs in this virtualenv exactly as the image runs it (same environment variables,
same arguments but the port, started from the home folder), health-checked by its own HEALTHCHECK."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controller_fixtures import free_port, wait_for
from tests.gitrepo import repository

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions(stage: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n\s*", " ", stage)
    lines = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


STAGES = re.split(r"(?m)^(?=FROM )", DOCKERFILE)
FINAL = instructions(STAGES[-1])


def last(keyword: str) -> str:
    return [value for key, value in FINAL if key == keyword][-1]


def environment() -> dict[str, str]:
    pairs = shlex.split(last("ENV"))
    return dict(pair.split("=", 1) for pair in pairs)


def test_the_final_stage_is_slim_non_root_and_has_no_compilers() -> None:
    assert last("FROM").endswith("-slim")
    installs = " ".join(value for key, value in FINAL if key == "RUN")
    assert not re.search(r"\b(gcc|g\+\+|clang|build-essential|make|python3-dev)\b", installs)
    user = last("USER").split(":")[0]
    assert user.isdigit() and int(user) != 0
    assert "tini" in installs and json.loads(last("ENTRYPOINT"))[0].endswith("tini")


def test_home_volume_command_and_healthcheck_agree() -> None:
    env = environment()
    assert env["DEPLOYCTL_HOME"] == "/var/lib/deployctl"
    assert json.loads(last("VOLUME")) == [env["DEPLOYCTL_HOME"]]
    command = json.loads(last("CMD"))
    assert command[:2] == ["deployctl", "controller"]
    port = command[command.index("--listen") + 1].rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}/healthz" in last("HEALTHCHECK")


def test_dockerignore_lets_through_what_the_build_copies() -> None:
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    copied = [v.split()[:-1] for key, v in instructions(STAGES[1]) if key == "COPY" and "--from" not in v]
    for source in (s for sources in copied for s in sources):
        assert f"!{source.rstrip('/')}" in ignored or f"!{source}" in ignored, source


def _has_controller_command() -> bool:
    deployctl = shutil.which("deployctl", path=str(Path(sys.executable).parent))
    return (
        deployctl is not None
        and subprocess.run([deployctl, "controller", "--help"], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(
    not _has_controller_command(), reason="`deployctl controller` is not wired into the CLI yet"
)
def test_the_image_command_runs_here_and_passes_its_own_healthcheck(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    home = tmp_path / "var" / "lib" / "deployctl"
    home.mkdir(parents=True)
    port = free_port()
    env = {
        **environment(),
        "DEPLOYCTL_HOME": str(home),
        "HOME": str(home),
        "DEPLOYCTL_SOURCE": str(repo.root),
    }
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    command = [part.replace(":8080", f":{port}") for part in json.loads(last("CMD"))]
    process = subprocess.Popen(command, cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        check = json.loads(last("HEALTHCHECK").split("CMD", 1)[1])
        check = [sys.executable, *[part.replace(":8080", f":{port}") for part in check[1:]]]
        wait_for(lambda: subprocess.run(check, capture_output=True).returncode == 0, what="the healthcheck")
        assert (home / "registry.db").exists()
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()
