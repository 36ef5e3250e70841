"""Run the deployctl command the way a person does: only HOME set, in-process (click's
CliRunner, ``invoke``) or as a real process (``run_deployctl``).

Every DEPLOYCTL_* variable of the test process is removed, so the defaults are what runs.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
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


def run_deployctl(
    home: Path, *args: str, cwd: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed ``deployctl`` command as a process, started in ``cwd`` with HOME at ``home``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    clean |= {"HOME": str(home), **(env or {})}
    command = str(Path(sys.executable).parent / "deployctl")
    return subprocess.run(
        [command, *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=timeout
    )
