"""Checks of a built deployment: parameters against its schema when it is enforced, as Prefect's
server checks them when the deployment is written (required parameters may be left to the run),
and the environment its runs would get. Called by ``controller.loading.loader``."""

from __future__ import annotations

from typing import Any

from controller.core.environment import variable_problem
from controller.core.spec import DeploymentSpec

Finding = tuple[tuple[str | int, ...], str, str]
"""(field path, message, code) of a problem with one deployment."""


def parameter_problems(spec: DeploymentSpec) -> list[Finding]:
    schema = spec.parameter_openapi_schema
    if not spec.enforce_parameter_schema or not isinstance(schema, dict) or not schema.get("properties"):
        return []
    import jsonschema  # only deployments with an enforced schema pay for importing it

    relaxed: dict[str, Any] = {k: v for k, v in schema.items() if k != "required" and v is not None}
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
