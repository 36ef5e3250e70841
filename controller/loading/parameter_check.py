"""Checks of a built deployment: parameters against its schema when it is enforced, as Prefect's
server checks them when the deployment is written (required parameters may be left to the run),
and the environment its runs would get. Called by ``controller.loading.loader``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from controller.core.environment import variable_problem
from controller.core.parameter_schema import defs_conflicts, local_refs, normalise_parameter_schema, resolves
from controller.core.spec import DeploymentSpec

Finding = tuple[tuple[str | int, ...], str, str]
"""(field path, message, code) of a problem with one deployment."""


def parameter_problems(spec: DeploymentSpec) -> list[Finding]:
    """What Prefect 3's server would refuse in the schema (as deployctl normalises it) or in the
    parameters against it, found here so it never becomes a 422 in the middle of an apply."""
    written = spec.parameter_openapi_schema
    schema = normalise_parameter_schema(written)
    shape = _shape_problems(written, schema)
    if shape or not spec.enforce_parameter_schema:
        return shape
    import jsonschema  # only deployments with an enforced schema pay for importing it

    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = ("parameter_openapi_schema", *_written_path(written, exc.absolute_path))
        message = (
            f"not a valid JSON schema ({exc.message}), so Prefect refuses it while "
            "enforce_parameter_schema is on: fix the schema, or set enforce_parameter_schema: false"
        )
        return [(where, message, "invalid-schema")]
    missing = [ref for ref in local_refs(schema) if not resolves(schema, ref)]
    if missing:
        message = (
            f"$ref '{missing[0]}' names nothing in this schema, so Prefect refuses runs that pass it: "
            "add the definition, or set enforce_parameter_schema: false"
        )
        return [(("parameter_openapi_schema",), message, "invalid-schema")]
    if not schema.get("properties"):
        return []
    relaxed = {k: v for k, v in schema.items() if k != "required"}
    try:
        validator = jsonschema.validators.validator_for(relaxed)(relaxed)
        errors = sorted(validator.iter_errors(spec.parameters), key=lambda e: str(list(e.absolute_path)))
    except Exception as exc:  # noqa: BLE001 - a broken schema fails in many ways inside jsonschema
        return [
            (("parameter_openapi_schema",), f"the parameter schema cannot be used: {exc}", "invalid-schema")
        ]
    return [
        (
            ("parameters", *error.absolute_path),
            f"{error.message}: the flow's signature does not accept this (enforce_parameter_schema is on); "
            "fix the value, or set enforce_parameter_schema: false",
            "parameter-schema",
        )
        for error in errors[:5]
    ]


def _shape_problems(written: dict[str, Any], schema: dict[str, Any]) -> list[Finding]:
    """What no Prefect client sends, enforced or not: a flow's parameters are named, so the
    schema describes an object; ``$defs`` and ``definitions`` never disagree about a name."""
    if schema.get("type", "object") != "object":
        message = (
            f"type is {schema['type']!r}, but a flow's parameters are a mapping of names: "
            "the schema's type must be object"
        )
        return [(("parameter_openapi_schema", "type"), message, "invalid-schema")]
    if not isinstance(schema.get("properties", {}), dict):
        message = "properties must map each parameter name to its schema"
        return [(("parameter_openapi_schema", "properties"), message, "invalid-schema")]
    clashes = defs_conflicts(written)
    if clashes:
        message = (
            f"{', '.join(clashes)} is defined differently under $defs and definitions: keep one "
            "(Prefect names shared models under definitions)"
        )
        return [(("parameter_openapi_schema", "$defs"), message, "invalid-schema")]
    return []


def _written_path(written: dict[str, Any], path: Iterable[str | int]) -> tuple[str | int, ...]:
    """A path of the normalised schema as it was written: the deepest part that exists there
    (a ``$defs`` entry is read under ``definitions`` once normalised)."""
    found: list[str | int] = []
    node: Any = written
    for part in path:
        if isinstance(node, dict) and part == "definitions" and "definitions" not in node:
            part = "$defs"
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]  # noqa: SIM114 - the same step, but on a list only an int indexes
        else:
            break
        found.append(part)
    return tuple(found)


def environment_problems(spec: DeploymentSpec) -> list[Finding]:
    """Variables no process can be given: refused here, at their line, rather than at every run
    (a name with ``=`` or NUL, an empty name, a value with NUL)."""
    found: list[Finding] = []
    for where, env in (
        (("infrastructure", "env"), spec.infrastructure.settings.get("env")),
        (("job_variables", "env"), spec.job_variables.get("env")),
    ):
        if not isinstance(env, dict):
            continue
        for key, value in env.items():
            problem = variable_problem(str(key), value)
            if problem:
                found.append(((*where, key), f"{problem}: no process can be given it", "invalid-env"))
    return found
