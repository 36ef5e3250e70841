"""Checks of a built deployment: parameters against its schema when it is enforced, as Prefect's
server checks them when the deployment is written (required parameters may be left to the run),
and the environment its runs would get. Called by ``controller.loading.loader``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
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
    key = _key(schema)
    invalid = _schema_error(key, schema)
    if invalid is not None:
        reason, path = invalid
        where = ("parameter_openapi_schema", *_written_path(written, path))
        message = (
            f"not a valid JSON schema ({reason}), so Prefect refuses it while "
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
    try:
        validator = _validator(key, schema)
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


_SCHEMAS: dict[str, Any] = {}
"""What a schema's check found, and its validator, by the schema's canonical text: the
deployments of one project mostly share their flow's schema, and checking one against the
meta-schema costs milliseconds (seconds for a thousand)."""
_SCHEMAS_MAX = 512


def _key(schema: dict[str, Any]) -> str:
    """The schema's canonical text; what JSON has no form for is named with its type, so two
    schemas share a key only when they are equal."""
    return json.dumps(
        schema, sort_keys=True, separators=(",", ":"), default=lambda o: f"<{type(o).__qualname__}:{o!r}>"
    )


def _cached(key: str, make: Callable[[], Any]) -> Any:
    if key not in _SCHEMAS:
        if len(_SCHEMAS) >= _SCHEMAS_MAX:
            _SCHEMAS.clear()
        _SCHEMAS[key] = make()
    return _SCHEMAS[key]


def _schema_error(key: str, schema: dict[str, Any]) -> tuple[str, tuple[str | int, ...]] | None:
    """Why ``schema`` is not a valid JSON schema (the reason, and where), or None."""

    def check() -> tuple[str, tuple[str | int, ...]] | None:
        import jsonschema  # only deployments with an enforced schema pay for importing it

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            return exc.message, tuple(exc.absolute_path)
        return None

    result: tuple[str, tuple[str | int, ...]] | None = _cached("check:" + key, check)
    return result


def _validator(key: str, schema: dict[str, Any]) -> Any:
    """A validator of parameters against ``schema`` less its ``required`` (required parameters
    may be left to the run); raises as jsonschema does for a schema it cannot use."""

    def make() -> Any:
        import jsonschema

        relaxed = {k: v for k, v in schema.items() if k != "required"}
        try:
            return jsonschema.validators.validator_for(relaxed)(relaxed)
        except Exception as exc:  # noqa: BLE001 - kept, to raise again for each schema alike
            return exc

    found = _cached("validator:" + key, make)
    if isinstance(found, Exception):
        raise found
    return found


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
