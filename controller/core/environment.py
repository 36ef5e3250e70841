"""Which environment variables a process can be given: one rule for the loader, which refuses
them at their line, and for the runner and ``run_deployment``, which meet them at run time."""

from __future__ import annotations


def variable_problem(name: str, value: object) -> str | None:
    """Why no process can be given ``name=value``, or None when it can."""
    if not name:
        return "an empty variable name"
    if "=" in name or "\0" in name:
        return "a variable name cannot contain '=' or a NUL byte"
    if isinstance(value, str) and "\0" in value:
        return "a value cannot contain a NUL byte"
    return None
