"""Which environment variables a process can be given: one rule for the loader, which refuses
them at their line, and for the runner and ``run_deployment``, which meet them at run time; and
which of deployctl's own variables are secrets that no flow is given."""

from __future__ import annotations

SECRET_VARIABLES = frozenset(
    {
        "DEPLOYCTL_GIT_TOKEN",
        "DEPLOYCTL_GIT_SSH_KEY",
        "DEPLOYCTL_WEBHOOK_SECRET",
        "DEPLOYCTL_WEBHOOK_SECRET_FILE",
        "DEPLOYCTL_UI_TOKEN",
        "DEPLOYCTL_ASKPASS_USERNAME",
        "DEPLOYCTL_ASKPASS_PASSWORD",
        "PREFECT_API_KEY",
        "PREFECT_API_AUTH_STRING",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_CONFIG_COUNT",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "CI_JOB_TOKEN",
    }
)
"""Credentials deployctl reads (git, webhooks, Prefect, the forges' APIs for commit status and
plan comments) and what carries them to git."""
_SECRET_PREFIXES = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")  # http.extraHeader holds the git token


def is_secret_variable(name: str) -> bool:
    """Whether ``name`` is one of deployctl's own secrets, which flows never inherit."""
    return name in SECRET_VARIABLES or name.startswith(_SECRET_PREFIXES)


def variable_problem(name: str, value: object) -> str | None:
    """Why no process can be given ``name=value``, or None when it can."""
    if not name:
        return "an empty variable name"
    if "=" in name or "\0" in name:
        return "a variable name cannot contain '=' or a NUL byte"
    if isinstance(value, str) and "\0" in value:
        return "a value cannot contain a NUL byte"
    return None
