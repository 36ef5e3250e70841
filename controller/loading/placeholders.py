"""Resolves ``{{ $ENV_VAR }}`` placeholders in a prefect.yaml, as Prefect's ``apply_values`` does.

Other placeholders (``{{ prefect.variables.x }}``, step outputs) are left as they are: they
belong to a Prefect server. Called by ``controller.loading.manifests`` before validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from controller.core.diagnostics import FieldPath

_ENV_PLACEHOLDER = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def resolve_env_placeholders(
    data: Any, env: Mapping[str, str], path: FieldPath = ()
) -> tuple[Any, list[tuple[FieldPath, str]]]:
    """Return ``data`` with placeholders replaced, and (path, variable) for each unset one."""
    missing: list[tuple[FieldPath, str]] = []

    def walk(node: Any, here: FieldPath) -> Any:
        if isinstance(node, str):
            if "{{" not in node:
                return node
            return _ENV_PLACEHOLDER.sub(lambda m: _lookup(m.group(1), here), node)
        if isinstance(node, dict):
            return {key: walk(value, (*here, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, (*here, index)) for index, item in enumerate(node)]
        return node

    def _lookup(name: str, here: FieldPath) -> str:
        if name in env:
            return env[name]
        missing.append((here, name))
        return ""

    return walk(data, path), missing
