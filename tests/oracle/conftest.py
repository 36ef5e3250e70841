"""Prefect itself as the oracle: its virtualenv comes from DEPLOYCTL_TEST_PREFECT_BIN (set by .ci/run).

Without it the oracle tests are skipped with the reason, unless DEPLOYCTL_REQUIRE_PREFECT=1
(CI), where a missing Prefect is a failure. deployctl never imports Prefect.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def prefect_python() -> Path:
    folder = os.environ.get("DEPLOYCTL_TEST_PREFECT_BIN", "")
    python = Path(folder) / "python"
    if not folder or not python.exists():
        message = "Prefect's virtualenv is not set up: run .ci/run (or set DEPLOYCTL_TEST_PREFECT_BIN)"
        if os.environ.get("DEPLOYCTL_REQUIRE_PREFECT") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


def run_in_prefect(python: Path, script: str, payload: Any) -> Any:
    done = subprocess.run(
        [str(python), str(HERE / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
