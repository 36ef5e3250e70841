"""What ``prefect deploy`` takes from a flow equals what deployctl reads without importing it.

For each flow of ``tests/fixtures/signatures/flows.py``, Prefect 3.9.1 imports the flow in its
own virtualenv and reports its name, description and stored parameter schema; deployctl loads
a prefect.yaml pointing at the same flows and must store exactly those.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from controller.core.diagnostics import Severity
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from tests.oracle.conftest import run_in_prefect

FLOWS = Path(__file__).resolve().parent.parent / "fixtures" / "signatures" / "flows.py"
FUNCTIONS = ["typed", "described", "plain_async"]


def test_name_description_and_schema_equal_prefects(prefect_python: Path, tmp_path: Path) -> None:
    shutil.copy(FLOWS, tmp_path / "flows.py")
    (tmp_path / "prefect.yaml").write_text(
        "deployments:\n" + "".join(f"- name: {f}\n  entrypoint: flows.py:{f}\n" for f in FUNCTIONS)
    )
    expected = run_in_prefect(
        prefect_python, "prefect_flow_facts.py", [f"{tmp_path / 'flows.py'}:{f}" for f in FUNCTIONS]
    )
    result = load_manifests(DirectoryTree(tmp_path), env={})
    assert not [d for d in result.diagnostics if d.severity is Severity.ERROR]
    by_name = {spec.name: spec for spec in result.specs.values()}
    for function, facts in zip(FUNCTIONS, expected, strict=True):
        spec = by_name[function]
        assert spec.flow_name == facts["name"]
        assert spec.description == facts["description"]
        assert spec.parameter_openapi_schema == facts["schema"], function
        assert spec.enforce_parameter_schema is True
