"""The README's "History and rollback" runs as written: a fresh copy of the repository, every
command of the section's ``console`` block started at its root with only ``HOME`` in a
temporary folder (holding a person's git identity, so ``git commit`` works). A command ending in
``# exit N`` must exit N; output lines must appear in order, as in ``tests/test_readme.py``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.test_readme import README
from tests.test_readme_authoring import a_person, console_steps, run_steps

TITLE = "## History and rollback\n"


def section() -> str:
    text = README.read_text()
    start = text.index(TITLE)
    return text[start : text.index("\n## ", start + len(TITLE))]


def test_the_history_section_runs_as_written(tmp_path: Path) -> None:
    work, env = a_person(tmp_path)
    steps = console_steps(section())
    assert [command.split()[1] for command, *_ in steps if command.startswith("deployctl")] == [
        "sync", "sync", "history", "deployment", "rollback", "status", "sync", "release", "sync",
    ]  # fmt: skip
    run_steps(steps, work, env)
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
