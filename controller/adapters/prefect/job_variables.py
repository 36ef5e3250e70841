"""Job variables checked against a work pool's template, as a Prefect server checks them on write.

Prefect 3 validates a deployment's ``job_variables`` against its pool's
``base_job_template.variables`` (a JSON schema) and answers 422 to what does not fit. Checked
here first, so that ``plan`` refuses at the manifest's line what ``sync`` would meet as a 422
in the middle of an apply. Like the server: ``required`` is not enforced (a run may still add
the value), and ``null`` is accepted for a variable that has a default. Called by ``admit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema


def job_variable_problem(variables: Mapping[str, Any], pool: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first job variable the pool's template refuses: (dotted path, message), else None."""
    schema = (pool.get("base_job_template") or {}).get("variables") or {}
    properties = schema.get("properties") or {}
    for key, value in variables.items():
        declared = properties.get(key)
        if not isinstance(declared, dict) or (value is None and "default" in declared):
            continue
        wrapper = {
            **{k: v for k, v in schema.items() if k in ("definitions", "$defs")},
            "type": "object",
            "properties": {key: _without_required(declared)},
        }
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(wrapper).iter_errors({key: value})
        )
        if error is not None:
            path = ".".join(str(p) for p in error.absolute_path) or key
            return path, (
                f"work pool '{pool.get('name')}' (type {pool.get('type')}) refuses it: {error.message}; "
                "give a value of the type the pool's job template declares "
                f"(prefect work-pool inspect {pool.get('name')})"
            )
    return None


def _without_required(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _without_required(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_without_required(v) for v in schema]
    return schema
