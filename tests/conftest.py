"""Shared helpers: write small repositories of manifests into temporary folders."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PREFECT_SERVER_FIXTURES = {"prefect_server", "prefect2_api_url", "prefect2"}
WORKERS = 3  # the suite mostly waits on subprocesses and servers: 3 workers on CI's 2 cores


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (pyproject's addopts): the whole suite, or a folder of it, is spread over
    ``WORKERS`` processes; a run of named files or tests (``pytest tests/test_x.py``) stays in
    this process, as quick to start and read as before. ``-n N`` on the command line wins."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    named = [arg for arg in config.args if "::" in arg or Path(arg).is_file()]
    return 0 if named else WORKERS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run on one xdist worker, one test at a time")


# Prefect tests that assume things about a whole server, run one at a time in one group: the
# Prefect 2 server's deployment count (refused), the deployments built on or applied to it,
# the conformance corpus's Process block saved there by name, and the sample's fixed names and
# fixed pool ``local``, which a worker pass empties.
WHOLE_SERVER = {
    "test_prefect2_refused.py", "test_prefect2_build.py", "test_prefect2_rrule_count.py",
    "test_prefect_conformance.py", "test_prefect_sample_repo.py",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests against the shared Prefect servers run in ``xdist_group``s (``--dist loadgroup``):
    those in ``WHOLE_SERVER`` all in one, one after another; every other Prefect module in a
    group of its own, so its tests run in order on one worker and its module- and session-scoped
    fixtures are built once. These use names no other test uses (``unique``), as they must
    anyway: other sessions share the servers. One group for all took 23 of the suite's 31
    minutes on one worker, longer than the whole run may take."""
    for item in items:
        prefect = item.path.is_relative_to(HERE / "prefect")
        if not prefect and not PREFECT_SERVER_FIXTURES & set(item.fixturenames):
            continue
        whole_server = not prefect or item.path.name in WHOLE_SERVER
        item.add_marker(pytest.mark.xdist_group("prefect-server" if whole_server else item.path.stem))


FLOW_SOURCE = "def my_flow(name='world'):\n    print(name)\n"


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content))
    return root


def minimal_deployment(name: str = "daily", flow: str = "my_flow", extra: str = "") -> str:
    return f"name: {name}\nflow_name: {flow}\nentrypoint: flows.py:my_flow\n{extra}"


@pytest.fixture
def repo_dir(tmp_path: Path) -> Path:
    return tmp_path / "repo"
