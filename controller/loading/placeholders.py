"""Resolves ``{{ $ENV_VAR }}`` and ``{{ prefect.variables.NAME }}`` placeholders in a prefect.yaml.

Only the variables ``templating.env`` in ``.deployctl.yaml`` lists, and never deployctl's own
secrets or Prefect's credentials (``DEPLOYCTL_*``, ``PREFECT_API_KEY``,
``PREFECT_API_AUTH_STRING``): anyone who can commit could otherwise copy whatever deployctl's
environment holds (a cloud key, a token) into a deployment, and so into the registry. An
unlisted or unset name is an error at its line.
Variables come from the registry when the caller passes them (plan and sync), and one that is
not there is an error; offline validation passes none and leaves them as they are, as it
leaves step outputs. Called by ``controller.loading.manifests`` before validation.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.diagnostics import Diagnostic, FieldPath, Severity, format_field_path
from controller.loading.safe_yaml import Locator

_ENV_PLACEHOLDER = re.compile(r"\{\{\s*\$([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_VARIABLE_PLACEHOLDER = re.compile(r"\{\{\s*prefect\.variables\.([A-Za-z0-9_-]+)\s*\}\}")
SECRET_PREFIX = "DEPLOYCTL_"
SECRET_NAMES = frozenset({"PREFECT_API_KEY", "PREFECT_API_AUTH_STRING"})


class Refusal(enum.Enum):
    UNSET = "unset"
    SECRET = "secret"
    NOT_ALLOWED = "not-allowed"
    NO_VARIABLE = "no-variable"


@dataclass(frozen=True)
class Unresolved:
    path: FieldPath
    name: str
    why: Refusal


def is_secret(name: str) -> bool:
    return name.startswith(SECRET_PREFIX) or name in SECRET_NAMES


def templating_env(env: Mapping[str, str], allowed: Collection[str] | None) -> dict[str, str]:
    """The variables placeholders may read: those ``allowed`` (None: none), never a secret."""
    return {k: v for k, v in env.items() if not is_secret(k) and k in (allowed or ())}


def resolve_env_placeholders(
    data: Any,
    env: Mapping[str, str],
    allowed: Collection[str] | None = None,
    path: FieldPath = (),
    variables: Mapping[str, str] | None = None,
) -> tuple[Any, list[Unresolved]]:
    """Return ``data`` with placeholders replaced, and each placeholder that was not;
    ``allowed`` lists the only names ``{{ $VAR }}`` may read (None: none, as an absent
    ``templating.env``); ``variables`` None leaves ``{{ prefect.variables.x }}`` as it is."""
    missing: list[Unresolved] = []

    def walk(node: Any, here: FieldPath) -> Any:
        if isinstance(node, str):
            if "{{" not in node:
                return node
            node = _ENV_PLACEHOLDER.sub(lambda m: _lookup(m.group(1), here), node)
            if variables is None:
                return node
            return _VARIABLE_PLACEHOLDER.sub(lambda m: _variable(m.group(1), here), node)
        if isinstance(node, dict):
            return {key: walk(value, (*here, str(key))) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item, (*here, index)) for index, item in enumerate(node)]
        return node

    def _lookup(name: str, here: FieldPath) -> str:
        if is_secret(name):
            missing.append(Unresolved(here, name, Refusal.SECRET))
        elif name not in (allowed or ()):
            missing.append(Unresolved(here, name, Refusal.NOT_ALLOWED))
        elif name in env:
            return env[name]
        else:
            missing.append(Unresolved(here, name, Refusal.UNSET))
        return ""

    def _variable(name: str, here: FieldPath) -> str:
        assert variables is not None
        if name in variables:
            return variables[name]
        missing.append(Unresolved(here, name, Refusal.NO_VARIABLE))
        return ""

    return walk(data, path), missing


def placeholder_diagnostics(
    path: str, unresolved: list[Unresolved], locator: Locator
) -> tuple[Diagnostic, ...]:
    return tuple(_diagnostic(path, item, locator) for item in unresolved)


def _diagnostic(path: str, item: Unresolved, locator: Locator) -> Diagnostic:
    line, column = locator.locate(item.path)
    field, severity = format_field_path(item.path), Severity.ERROR
    if item.why is Refusal.SECRET:
        message = (
            f"'{{{{ ${item.name} }}}}' is refused: placeholders never read deployctl's or Prefect's "
            "credentials; give the flow its secret another way (a secret store, the runner's environment)"
        )
    elif item.why is Refusal.NO_VARIABLE:
        message = (
            f"variable '{item.name}' is not set in the registry: 'deployctl variable set {item.name} VALUE', "
            "or write the value in the file"
        )
    elif item.why is Refusal.NOT_ALLOWED:
        message = (
            f"environment variable '{item.name}' is not in templating.env of .deployctl.yaml "
            "(placeholders read only the variables listed there): add it there, or write the value "
            "in the file"
        )
    else:
        message = (
            f"environment variable '{item.name}' is not set: set it where deployctl runs, or write the "
            "value in the file"
        )
    if item.why in (Refusal.UNSET, Refusal.NOT_ALLOWED) and _is_version(item.path):
        # deployctl versions by commit: a declared version is informational, as in Prefect a warning
        severity, message = Severity.WARNING, message + " (the declared version is not used; kept empty)"
    return Diagnostic(path, line, column, field, message, f"env-{item.why.value}", severity)


def _is_version(path: FieldPath) -> bool:
    return len(path) == 3 and path[0] == "deployments" and path[2] == "version"
