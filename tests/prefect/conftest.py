"""Fixtures for tests against a real Prefect server, started by ``.ci/prefect-server``.

``.ci/run`` starts the server and sets ``DEPLOYCTL_TEST_PREFECT_API_URL`` (its API URL) and
``DEPLOYCTL_TEST_PREFECT_BIN`` (the bin folder of the Prefect virtualenv). Without them these
tests are skipped, unless ``DEPLOYCTL_REQUIRE_PREFECT=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

URL_VARIABLE = "DEPLOYCTL_TEST_PREFECT_API_URL"
BIN_VARIABLE = "DEPLOYCTL_TEST_PREFECT_BIN"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "prefect: needs a real Prefect server (started by .ci/run)")


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    bin_dir: Path

    @property
    def prefect(self) -> str:
        return str(self.bin_dir / "prefect")


@pytest.fixture(scope="session")
def prefect_server() -> PrefectServer:
    url, bin_dir = os.environ.get(URL_VARIABLE), os.environ.get(BIN_VARIABLE)
    if not url or not bin_dir:
        reason = (
            f"no Prefect server: set {URL_VARIABLE} and {BIN_VARIABLE}, "
            "or run .ci/run, which starts one with .ci/prefect-server"
        )
        if os.environ.get("DEPLOYCTL_REQUIRE_PREFECT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    if not (Path(bin_dir) / "prefect").is_file():
        pytest.fail(f"{BIN_VARIABLE}={bin_dir} has no 'prefect' command")
    return PrefectServer(url.rstrip("/"), Path(bin_dir))
