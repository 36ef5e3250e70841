"""The README's "History and rollback" runs as written: a fresh copy of the repository, every
command of the section's ``console`` block started at its root with only ``HOME`` in a
temporary folder (holding a person's git identity, so ``git commit`` works). A command ending in
``# exit N`` must exit N; output lines must appear in order, as in ``tests/test_readme.py``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.test_readme import README, assert_in_order, fresh_copy
from tests.test_readme_authoring import console_steps

TITLE = "## History and rollback\n"


def section() -> str:
    text = README.read_text()
    start = text.index(TITLE)
    return text[start : text.index("\n## ", start + len(TITLE))]


def test_the_history_section_runs_as_written(tmp_path: Path) -> None:
    work, home = fresh_copy(tmp_path / "deployctl"), tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = A Person\n\temail = person@example.invalid\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_", "GIT_"))}
    env["HOME"] = str(home)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    steps = console_steps(section())
    assert [command.split()[1] for command, *_ in steps if command.startswith("deployctl")] == [
        "sync", "sync", "history", "deployment", "rollback", "status", "sync", "release", "sync",
    ]  # fmt: skip
    for command, code, expected in steps:
        done = subprocess.run(
            command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=180
        )
        output = done.stdout + done.stderr
        assert done.returncode == code, f"$ {command}\nexit {done.returncode}\n{output}"
        assert_in_order(expected, output, command)
    shown = subprocess.run(
        ["deployctl", "history", "-o", "json"], cwd=work, env=env, capture_output=True, text=True
    )
    triggers = [(p["trigger"], p["outcome"]) for p in json.loads(shown.stdout)]
    assert triggers == [
        ("cli", "applied"),
        ("cli", "refused"),
        ("rollback", "applied"),
        *[("cli", "applied")] * 2,
    ]
