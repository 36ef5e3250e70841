"""A home with something to show, and ``deployctl ui`` as a real process, for the status pages' tests.

``sample-repo`` is copied into a git repository with one hostile deployment more (markup in
its description and a parameter, a secret-looking env key), synced with HOME in a temporary
folder, one flow run of it executed by a real ``deployctl runner``, then a commit with a broken
cron synced and refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.controller_fixtures import wait_for
from tests.gitrepo import GitRepo

ROOT = Path(__file__).resolve().parent.parent
HOSTILE_DESCRIPTION = "<script>document.title='pwned'</script>"
HOSTILE_PARAMETER = "<img src=x onerror=document.title='pwned'>"
SECRET_VALUE = "very-secret-value-42"


@dataclass(frozen=True)
class ShownHome:
    home: Path
    work: Path  # where commands run from; the repository is ./repo there
    refused_commit: str
    run_id: str


def hostile_manifest() -> str:
    text = (ROOT / "sample-repo/flows/hello/ad-hoc-deployment.yaml").read_text()
    replaced = (
        text.replace("name: ad-hoc\n", "name: hostile\n", 1)
        .replace('description: "Run by hand: no schedule."', f'description: "{HOSTILE_DESCRIPTION}"')
        .replace("  name: ad-hoc team", f'  name: "{HOSTILE_PARAMETER}"')
        .replace("  env: {}", f"  env: {{API_TOKEN: {SECRET_VALUE}, GREETING: hi}}")
    )
    assert replaced.count("hostile") == 1 and SECRET_VALUE in replaced and HOSTILE_PARAMETER in replaced
    return replaced


def make_shown_home(tmp: Path) -> ShownHome:
    home, work = tmp / "home", tmp / "work"
    home.mkdir()
    shutil.copytree(ROOT / "sample-repo", work / "repo")
    repo = GitRepo(work / "repo")
    repo.write({"flows/hostile/deployment.yaml": hostile_manifest()})
    shutil.copy(ROOT / "sample-repo/flows/hello/flow.py", work / "repo/flows/hostile/flow.py")
    repo.commit("sample with a hostile deployment")
    synced = run_deployctl(home, "sync", "repo", cwd=work)
    assert synced.returncode == 0, synced.stderr
    run_id = _run_once(home, work, "my_flow/hostile")
    daily = work / "repo/flows/hello/daily-deployment.yaml"
    daily.write_text(daily.read_text().replace("cron: 0 8 * * 1-5", "cron: 'every blue moon'"))
    refused_commit = repo.commit("a broken cron")
    refused = run_deployctl(home, "sync", "repo", cwd=work)
    assert refused.returncode == 2 and "every blue moon" in refused.stderr, refused.stderr
    return ShownHome(home, work, refused_commit, run_id)


def _run_once(home: Path, work: Path, deployment: str) -> str:
    """One run of ``deployment`` by a real runner, while a real scheduler schedules the others."""
    with (
        deployctl_process(home, work, "scheduler", "--interval", "0.5"),
        deployctl_process(home, work, "runner", "--poll", "0.2"),
    ):
        done = run_deployctl(home, "deployment", "run", deployment, "--watch", cwd=work, timeout=120)
        wait_for(lambda: _scheduled(home, work, "my_flow/daily"), what="a scheduled run of my_flow/daily")
    assert done.returncode == 0 and "finished: Completed" in done.stdout, (done.stdout, done.stderr)
    return done.stdout.split("created flow run ", 1)[1].split()[0]


def _scheduled(home: Path, work: Path, deployment: str) -> bool:
    listed = run_deployctl(home, "flow-run", "ls", "--deployment", deployment, "-o", "json", cwd=work)
    return any(run["state_type"] == "SCHEDULED" for run in json.loads(listed.stdout or "[]"))


@contextmanager
def deployctl_process(
    home: Path, work: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``deployctl ARGS`` as a long-running process, stopped (by its pid) on leaving."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    clean |= {"HOME": str(home), **(env or {})}
    command = str(Path(sys.executable).parent / "deployctl")
    process = subprocess.Popen(
        [command, *args], cwd=work, env=clean, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def ui_server(shown: ShownHome, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``deployctl ui`` on a free loopback port; yields its base URL (no trailing slash)."""
    with deployctl_process(shown.home, shown.work, "ui", "--listen", "127.0.0.1:0", *args, env=env) as ui:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        assert " at http://" in line, (line, ui.stderr.read() if ui.stderr else "")
        yield line.split(" at ", 1)[1].split()[0].rstrip("/")
