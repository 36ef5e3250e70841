"""Fixtures for tests against a real Prefect server, started by ``.ci/prefect-server``.

``.ci/run`` starts the server and sets ``DEPLOYCTL_TEST_PREFECT_API_URL`` (its API URL) and
``DEPLOYCTL_TEST_PREFECT_BIN`` (the bin folder of the Prefect virtualenv), and
``DEPLOYCTL_TEST_PREFECT2_API_URL`` (a Prefect 2.20 server, which must be refused) and
``DEPLOYCTL_TEST_PREFECT2_BIN`` (the bin folder of Prefect 2.20's virtualenv, whose
``prefect deployment build`` writes the conformance corpus). Without them
these tests are skipped, unless ``DEPLOYCTL_REQUIRE_PREFECT=1`` (CI), which makes that a failure.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

URL_VARIABLE = "DEPLOYCTL_TEST_PREFECT_API_URL"
PREFECT2_URL_VARIABLE = "DEPLOYCTL_TEST_PREFECT2_API_URL"
BIN_VARIABLE = "DEPLOYCTL_TEST_PREFECT_BIN"
PREFECT2_BIN_VARIABLE = "DEPLOYCTL_TEST_PREFECT2_BIN"


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
        _absent(f"set {URL_VARIABLE} and {BIN_VARIABLE}")
    assert url and bin_dir
    if not (Path(bin_dir) / "prefect").is_file():
        pytest.fail(f"{BIN_VARIABLE}={bin_dir} has no 'prefect' command")
    return PrefectServer(url.rstrip("/"), Path(bin_dir))


@pytest.fixture(scope="session")
def prefect2_api_url() -> str:
    """The API URL of a Prefect 2.20 server."""
    url = os.environ.get(PREFECT2_URL_VARIABLE)
    if not url:
        _absent(f"set {PREFECT2_URL_VARIABLE}")
    assert url
    return url.rstrip("/")


@dataclass(frozen=True)
class Prefect2:
    """Prefect 2.20's server and the virtualenv whose CLI writes ``deployment.yaml`` files."""

    api_url: str
    bin_dir: Path


@pytest.fixture(scope="session")
def prefect2(prefect2_api_url: str) -> Prefect2:
    bin_dir = os.environ.get(PREFECT2_BIN_VARIABLE)
    if not bin_dir:
        _absent(f"set {PREFECT2_BIN_VARIABLE}")
    assert bin_dir
    if not (Path(bin_dir) / "prefect").is_file():
        pytest.fail(f"{PREFECT2_BIN_VARIABLE}={bin_dir} has no 'prefect' command")
    return Prefect2(prefect2_api_url, Path(bin_dir))


def _absent(what: str) -> None:
    reason = f"no Prefect server: {what}, or run .ci/run, which starts one with .ci/prefect-server"
    if os.environ.get("DEPLOYCTL_REQUIRE_PREFECT") == "1":
        pytest.fail(reason)
    pytest.skip(reason)
