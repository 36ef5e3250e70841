"""Run the deployctl command in-process (click's CliRunner) the way a person does: only HOME set.

Every DEPLOYCTL_* variable of the test process is removed, so the defaults are what runs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from click.testing import CliRunner, Result

from controller.cli import main


def invoke(home: Path, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DEPLOYCTL_")}
    clean |= {"HOME": str(home), **(env or {})}
    with contextlib.chdir(cwd or home):
        return CliRunner().invoke(main, list(args), env=clean)


def one_clear_line(result: Result) -> str:
    """The single error line a failed command printed; fails on tracebacks and internal errors."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout and "internal error" not in result.stderr
    assert len(lines) == 1, lines
    return lines[0]
