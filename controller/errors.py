"""deployctl's exception tree. Every error says what the controller loop does next.

    DeployctlError
    ├── TransientError      retrying may help (network, locked database, server 5xx)
    │   └── SourceUnavailable, RegistryUnavailable
    └── StalledError        nothing changes until a new commit or a human acts
        └── InvalidSource, ConfigError

Adapters raise these, chained (``raise X(...) from exc``); no library exception escapes them.
"""

from __future__ import annotations


class DeployctlError(Exception):
    retryable = False


class TransientError(DeployctlError):
    retryable = True


class StalledError(DeployctlError):
    retryable = False


class SourceUnavailable(TransientError):
    """The git source cannot be reached or read right now."""


class RegistryUnavailable(TransientError):
    """The deployment registry cannot be reached or is busy."""


class InvalidSource(StalledError):
    """The source exists but what it holds cannot be used (bad ref, bad path, bad manifests)."""


class ConfigError(StalledError):
    """deployctl's own settings are wrong."""
