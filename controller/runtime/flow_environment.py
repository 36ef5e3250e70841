"""What a flow run's process gets: parameters checked against the schema, environment, command.

Job variables are applied the way Prefect's process agent applies ``infra_overrides``: they
override the infrastructure block's fields (``env`` merged key by key, ``working_dir``,
``command``). The controller's own secrets are never passed to flows. Pure functions of a
deployment record and a run, used by ``runtime.runner``.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema

from controller.core.environment import is_secret_variable, variable_problem
from controller.core.parameter_schema import normalise_parameter_schema

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


def parameter_problem(record: Mapping[str, Any], parameters: Mapping[str, Any]) -> str | None:
    """Why the parameters break the deployment's schema (when it is enforced), or None."""
    schema = record.get("parameter_openapi_schema") or {}
    if not record.get("enforce_parameter_schema") or not schema:
        return None
    cleaned = normalise_parameter_schema(schema)
    try:
        jsonschema.validate(dict(parameters), cleaned)
    except jsonschema.ValidationError as exc:
        where = ".".join(str(p) for p in exc.absolute_path) or "parameters"
        return f"parameters rejected by the deployment's schema: {where}: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"the deployment's parameter schema is invalid: {exc.message}"
    return None


def infrastructure_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    settings = dict(record.get("infrastructure", {}).get("settings") or {})
    overrides = record.get("job_variables") or {}
    env = {**(settings.get("env") or {}), **(overrides.get("env") or {})}
    return {**settings, **overrides, "env": env}


def flow_environment(
    record: Mapping[str, Any],
    run_id: str,
    base: Mapping[str, str] | None = None,
    secrets: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """What the flow process of ``run_id`` is given: ``base`` (this process's environment) less
    deployctl's own secrets and ``secrets``, then the deployment's ``env``."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not is_secret_variable(k) and k not in secrets}
    for key, value in infrastructure_settings(record)["env"].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    env["DEPLOYCTL_FLOW_RUN_ID"] = run_id
    env.setdefault("PYTHONUNBUFFERED", "1")
    for key, value in env.items():
        problem = variable_problem(key, value)
        if problem:
            raise EnvironmentProblem(f"environment variable {key!r}: {problem}")
    return env


class EnvironmentProblem(ValueError):
    """A variable no process can be given (the run is Crashed with this reason)."""


def uses_launcher(record: Mapping[str, Any]) -> bool:
    return not infrastructure_settings(record).get("command")


def flow_command(record: Mapping[str, Any], spec_file: Path) -> list[str]:
    """The flow's command; the launcher by absolute path, with ``-P`` so nothing shadows it."""
    command = infrastructure_settings(record).get("command")
    if command:
        return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    return [sys.executable, "-P", str(LAUNCHER), str(spec_file)]


def working_directory(record: Mapping[str, Any], run_folder: Path) -> Path:
    """The configured ``working_dir`` (a relative one is inside the run's code), else the code."""
    configured = infrastructure_settings(record).get("working_dir")
    return run_folder / Path(str(configured)).expanduser() if configured else run_folder
