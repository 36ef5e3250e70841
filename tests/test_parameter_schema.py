"""Parameter schemas as Prefect 2's ``prefect deployment build`` writes them become what Prefect
3's client sends (the server checks enforced schemas against the Draft 2020-12 meta-schema), and
what no normalisation can make acceptable is refused at its file and line.

The ``PREFECT2_*`` schemas below are copied from files ``prefect deployment build`` 2.20.27
wrote (``tests/prefect/test_prefect_conformance.py`` regenerates such files on every run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from controller.adapters.prefect.translate import parameter_schema
from controller.core.parameter_schema import local_refs, normalise_parameter_schema, resolves
from controller.loading.loader import load_manifests
from controller.loading.tree import DirectoryTree
from controller.runtime.flow_environment import parameter_problem
from tests.conftest import write_tree

PREFECT2_TYPED = """
title: Parameters
type: object
properties:
  name: {position: 0, title: name, type: string}
  count: {default: 3, position: 1, title: count, type: integer}
  ratio:
    anyOf: [{type: number}, {type: 'null'}]
    default: null
    position: 2
    title: ratio
required: [name]
definitions: null
"""
PREFECT2_DEFAULTED = """
title: Parameters
type: object
properties:
  name: {title: name, default: world, position: 0, type: string}
required: null
definitions: null
"""
PREFECT2_MODEL = """
title: Parameters
type: object
properties:
  window: {$ref: '#/definitions/Window', position: 0, title: window}
  label: {default: x, position: 1, title: label, type: string}
required: [window]
definitions:
  Window:
    properties:
      start: {title: Start, type: string}
      days: {default: 7, title: Days, type: integer}
    required: [start]
    title: Window
    type: object
"""


def schema_of(text: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def accepted_by_prefect(schema: dict[str, Any]) -> None:
    """What Prefect 3.9.1's server does with an enforced schema on a create."""
    jsonschema.Draft202012Validator.check_schema(schema)
    assert all(resolves(schema, ref) for ref in local_refs(schema))


def test_prefect_2_null_required_and_definitions_are_left_out() -> None:
    written = schema_of(PREFECT2_DEFAULTED)
    with pytest.raises(jsonschema.SchemaError, match="None is not of type"):
        jsonschema.Draft202012Validator.check_schema(written)
    sent = parameter_schema(written)
    assert sent == {"title": "Parameters", "type": "object", "properties": written["properties"]}
    accepted_by_prefect(sent)
    assert written["definitions"] is None, "the spec's own schema is never changed"


def test_a_typed_flow_keeps_its_required_and_its_null_defaults() -> None:
    sent = parameter_schema(schema_of(PREFECT2_TYPED))
    assert sent["required"] == ["name"] and "definitions" not in sent
    assert sent["properties"]["ratio"]["default"] is None, "a null default is data, not an unset keyword"
    accepted_by_prefect(sent)


def test_a_pydantic_model_parameter_keeps_its_definitions_and_reference() -> None:
    written = schema_of(PREFECT2_MODEL)
    sent = parameter_schema(written)
    assert sent == written, "already what Prefect 3 sends: #/definitions/ references"
    accepted_by_prefect(sent)


def test_defs_move_to_definitions_with_their_references() -> None:
    written = {
        "type": "object",
        "properties": {
            "window": {"$ref": "#/$defs/Window"},
            "windows": {"type": "array", "items": {"$ref": "#/$defs/Window"}},
            "maybe": {"anyOf": [{"$ref": "#/$defs/Window"}, {"type": "null"}]},
        },
        "$defs": {"Window": {"type": "object", "properties": {"w": {"$ref": "#/$defs/Part"}}}, "Part": {}},
        "definitions": {"Part": {}},
    }
    sent = normalise_parameter_schema(written)
    assert "$defs" not in sent and set(sent["definitions"]) == {"Window", "Part"}
    assert local_refs(sent) == ["#/definitions/Window", "#/definitions/Window", "#/definitions/Window",
                                "#/definitions/Part"]  # fmt: skip
    accepted_by_prefect(sent)


def test_nested_nulls_go_and_data_stays() -> None:
    written = {
        "type": "object",
        "properties": {"opts": {"type": "object", "required": None, "default": {"required": None}}},
        "definitions": {"M": {"type": "object", "required": None, "title": None}},
    }
    sent = normalise_parameter_schema(written)
    assert sent["properties"]["opts"] == {"type": "object", "default": {"required": None}}
    assert sent["definitions"]["M"] == {"type": "object"}
    accepted_by_prefect(sent)


def test_empty_definitions_are_left_out_as_prefect_deploy_leaves_them() -> None:
    """``prefect deploy`` sends ``model_dump(exclude_unset=True)``: no ``definitions: {}``."""
    written = {"title": "Parameters", "type": "object", "properties": {}, "definitions": {}, "$defs": {}}
    assert normalise_parameter_schema(written) == {"title": "Parameters", "type": "object", "properties": {}}


@pytest.mark.parametrize("empty", [None, {}])
def test_no_schema_is_the_servers_own_default(empty: dict[str, Any] | None) -> None:
    assert normalise_parameter_schema(empty) == {"type": "object", "properties": {}}


def test_the_embedded_runner_reads_prefect_2_schemas_too() -> None:
    record = {"parameter_openapi_schema": schema_of(PREFECT2_MODEL), "enforce_parameter_schema": True}
    assert parameter_problem(record, {"window": {"start": "2024-01-01"}}) is None
    problem = parameter_problem(record, {"window": {"days": 2}})
    assert problem is not None and "'start' is a required property" in problem


def deployment(schema: str, enforce: bool = True) -> str:
    return (
        "name: d\nflow_name: f\nentrypoint: flows.py:f\n"
        f"enforce_parameter_schema: {str(enforce).lower()}\nparameter_openapi_schema:\n{schema}"
    )


def messages(root: Path, files: dict[str, str]) -> list[str]:
    write_tree(root, {"flows.py": "def f(window=None, label='x'):\n    pass\n", **files})
    result = load_manifests(DirectoryTree(root), env={})
    return [f"{d.file}:{d.line}: {d.field}: {d.message}" for d in result.diagnostics]


def indented(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.strip().splitlines())


@pytest.mark.parametrize("enforce", [True, False])
def test_prefect_2_schemas_load_without_a_problem(tmp_path: Path, enforce: bool) -> None:
    shapes = {"typed": PREFECT2_TYPED, "defaulted": PREFECT2_DEFAULTED, "model": PREFECT2_MODEL}
    files: dict[str, str] = {}
    for name, text in shapes.items():
        manifest = deployment(indented(text), enforce)
        files[f"{name}/deployment.yaml"] = manifest.replace("name: d", f"name: {name}")
        files[f"{name}/flows.py"] = "def f(**kwargs):\n    pass\n"
    assert messages(tmp_path, files) == []


REFUSED = {
    "not-an-object": (
        "  type: array\n  items: {type: string}\n",
        False,
        "deployment.yaml:6: parameter_openapi_schema.type: type is 'array', but a flow's parameters are a "
        "mapping of names: the schema's type must be object",
    ),
    "properties-not-a-mapping": (
        "  type: object\n  properties: [name]\n",
        False,
        "deployment.yaml:7: parameter_openapi_schema.properties: properties must map each parameter name "
        "to its schema",
    ),
    "invalid-keyword": (
        "  type: object\n  properties:\n    name: {type: strng}\n",
        True,
        "deployment.yaml:8: parameter_openapi_schema.properties.name.type: not a valid JSON schema ('strng' "
        "is not valid under any of the given schemas), so Prefect refuses it while enforce_parameter_schema "
        "is on: fix the schema, or set enforce_parameter_schema: false",
    ),
    "required-a-string": (
        "  type: object\n  properties: {}\n  required: name\n",
        True,
        "deployment.yaml:8: parameter_openapi_schema.required: not a valid JSON schema ('name' is not of "
        "type 'array'), so Prefect refuses it while enforce_parameter_schema is on: fix the schema, or set "
        "enforce_parameter_schema: false",
    ),
    "dangling-ref": (
        "  type: object\n  properties:\n    window: {$ref: '#/definitions/Window'}\n  definitions: null\n",
        True,
        "deployment.yaml:5: parameter_openapi_schema: $ref '#/definitions/Window' names nothing in this "
        "schema, so Prefect refuses runs that pass it: add the definition, or set "
        "enforce_parameter_schema: false",
    ),
    "defs-disagree": (
        "  type: object\n  properties: {}\n  $defs: {M: {type: string}}\n"
        "  definitions: {M: {type: integer}}\n",
        False,
        "deployment.yaml:8: parameter_openapi_schema.$defs: M is defined differently under $defs and "
        "definitions: keep one (Prefect names shared models under definitions)",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_prefect_would_refuse_is_refused_at_its_line(tmp_path: Path, case: str) -> None:
    schema, enforce, expected = REFUSED[case]
    assert messages(tmp_path, {"deployment.yaml": deployment(schema, enforce)}) == [expected]


def test_an_unenforced_schema_is_not_checked_against_the_meta_schema(tmp_path: Path) -> None:
    schema = "  type: object\n  properties:\n    name: {type: strng}\n"
    assert messages(tmp_path, {"deployment.yaml": deployment(schema, enforce=False)}) == []


def test_a_schema_shared_by_many_deployments_is_judged_for_each(tmp_path: Path) -> None:
    """The check of a schema is made once for all deployments that share it: each is still
    refused at its own file and line, and each one's parameters are checked."""
    invalid = "  type: object\n  properties:\n    name: {type: strng}\n"
    valid = "  type: object\n  properties:\n    n: {type: integer}\n"
    files = {}
    for i in range(3):
        files[f"bad-{i}/deployment.yaml"] = deployment(invalid).replace("name: d", f"name: bad-{i}")
        files[f"bad-{i}/flows.py"] = "def f(name=''):\n    pass\n"
        n = "x" if i == 1 else str(i)
        files[f"ok-{i}/deployment.yaml"] = (
            deployment(valid).replace("name: d", f"name: ok-{i}") + f"parameters: {{n: {n}}}\n"
        )
        files[f"ok-{i}/flows.py"] = "def f(n=0):\n    pass\n"
    found = messages(tmp_path, files)
    assert [m for m in found if "not a valid JSON schema" in m] == [
        f"bad-{i}/deployment.yaml:8: parameter_openapi_schema.properties.name.type: not a valid JSON "
        "schema ('strng' is not valid under any of the given schemas), so Prefect refuses it while "
        "enforce_parameter_schema is on: fix the schema, or set enforce_parameter_schema: false"
        for i in range(3)
    ]
    assert [m.split(":", 1)[0] for m in found if "parameters.n" in m] == ["ok-1/deployment.yaml"]
