"""JSON Schemas stay in sync with the models, accept the sample repository, and the CLI works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import yaml

from controller.loading.schemas import generate_schemas, stale_schemas
from tests.conftest import FLOW_SOURCE, minimal_deployment, write_tree

ROOT = Path(__file__).resolve().parent.parent


def deployctl(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_committed_schemas_are_fresh() -> None:
    assert stale_schemas(ROOT / "schemas") == [], "run 'deployctl schema --write'"


def test_stale_schema_is_detected(tmp_path: Path) -> None:
    for name, text in generate_schemas().items():
        (tmp_path / name).write_text(text)
    (tmp_path / "prefect.schema.json").write_text("{}")
    assert stale_schemas(tmp_path) == ["prefect.schema.json"]
    assert deployctl("schema", "--dir", str(tmp_path)).returncode == 2


def test_sample_repository_files_match_their_schemas() -> None:
    schemas = {name: json.loads(text) for name, text in generate_schemas().items()}
    checked = 0
    for path in (ROOT / "sample-repo").rglob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        schema = schemas[first.rsplit("/", 1)[-1]]
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
        checked += 1
    assert checked >= 7


def test_schema_rejects_unknown_key() -> None:
    schema = json.loads(generate_schemas()["deployment.schema.json"])
    errors = list(
        jsonschema.Draft202012Validator(schema).iter_errors(
            {"name": "a", "flow_name": "f", "entrypoint": "a.py:f", "shedule": {}}
        )
    )
    assert any("shedule" in e.message for e in errors)


def test_validate_sample_repo_succeeds() -> None:
    done = deployctl("validate", "sample-repo")
    assert done.returncode == 0, done.stderr
    # no warning: the embedded engine runs the Reactive trigger of flows/hello
    assert done.stdout.strip().splitlines()[-1] == "7 deployments in 6 files, 0 errors"


def test_validate_reports_errors_with_exit_2_and_json(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "flows.py": FLOW_SOURCE,
            "ok/flows.py": FLOW_SOURCE,
            "ok/deployment.yaml": minimal_deployment("ok"),
            "deployment.yaml": minimal_deployment(extra="schedule: {cron: '61 * * * *'}\n"),
        },
    )
    text = deployctl("validate", str(tmp_path))
    assert text.returncode == 2
    assert (
        "deployment.yaml:4:12: schedule.cron: '61 * * * *' is not a valid cron expression "
        "(minute must be 0-59)" in text.stderr
    )
    assert text.stdout.strip() == "1 deployments in 2 files, 1 error"
    as_json = deployctl("validate", str(tmp_path), "--output", "json")
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 2 and report["valid"] is False
    assert report["deployments"] == ["my_flow/ok"]
    assert report["diagnostics"][0] | {"message": ""} == {
        "file": "deployment.yaml",
        "line": 4,
        "column": 12,
        "field": "schedule.cron",
        "message": "",
        "code": "invalid-value",
        "severity": "error",
    }
