"""The README's "Authoring deployments the Prefect 2 way" runs as written.

A fresh copy of the repository (``tests.test_readme.fresh_copy``), every command of the
section's ``console`` blocks started at its root with only ``HOME`` in a temporary folder (which
holds the git identity a person has configured, so ``git commit`` works), then the section's
``python`` block. A command ending in ``# exit N`` must exit N; output lines must appear in
order (``…`` matches anything), as in ``tests/test_readme.py``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.test_readme import README, assert_in_order, fresh_copy

TITLE = "## Authoring deployments the Prefect 2 way\n"


def section() -> str:
    text = README.read_text()
    start = text.index(TITLE)
    end = text.index("\n## ", start + len(TITLE))
    return text[start:end]


def console_steps(text: str) -> list[tuple[str, int, list[str]]]:
    """(command, expected exit code, expected output lines) of every ``console`` block."""
    steps: list[tuple[str, int, list[str]]] = []
    for block in re.finditer(r"^```console\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.group(1).splitlines():
            if line.startswith("$ "):
                command, _, comment = line[2:].partition("  #")
                code = re.search(r"exit (\d)", comment)
                steps.append((command.strip(), int(code.group(1)) if code else 0, []))
            elif line.strip():
                steps[-1][2].append(line)
    return steps


def a_person(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A fresh copy of the repository, and the environment of a person with a git identity."""
    work, home = fresh_copy(tmp_path / "deployctl"), tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = A Person\n\temail = person@example.invalid\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_", "GIT_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return work, env


def run_steps(steps: list[tuple[str, int, list[str]]], work: Path, env: dict[str, str]) -> None:
    for command, code, expected in steps:
        done = subprocess.run(
            command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=180
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"$ {command}\nexit {done.returncode}\n{output}"
        assert_in_order(expected, output, command)


def test_the_authoring_section_runs_as_written(tmp_path: Path) -> None:
    work, env = a_person(tmp_path)
    text = section()
    steps = console_steps(text)
    assert len(steps) >= 5
    run_steps(steps, work, env)
    listed = subprocess.run(["deployctl", "deployment", "ls", "-o", "json"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert "sales-etl/daily-amer" in [row["id"] for row in yaml.safe_load(listed.stdout)]
    (python,) = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    done = subprocess.run([sys.executable, "-c", python], cwd=work, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "'cron': '0 7 * * 1', 'timezone': 'Asia/Singapore'" in done.stdout
    validated = subprocess.run(["deployctl", "validate", "sample-repo"], cwd=work, env=env,
                               capture_output=True, text=True, timeout=60)  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "9 deployments in 8 files" in validated.stdout  # the sample's 7, daily-amer and weekly-apac
