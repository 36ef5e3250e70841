"""Shared helpers: write small repositories of manifests into temporary folders."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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
