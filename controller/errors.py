"""deployctl's exception tree. Every error says what happens next, and the CLI maps it to an exit code.

    DeployctlError
    ├── TransientError      retrying may help (network, locked database, server 5xx)
    │   └── SourceUnavailable, RegistryUnavailable, RegistryMoved, TimedOut
    └── StalledError        nothing changes until a new commit or a human acts
        ├── InvalidSource, ConfigError
        └── UsageError      what was asked cannot be done as asked
            └── NotFound, Ambiguous, Unsupported

Adapters raise these, chained (``raise X(...) from exc``); no library exception escapes them.
The controller loop retries ``retryable`` errors with backoff and waits for a new commit on the
others; ``controller.cli`` turns any of them into one line on stderr and exit code 2.
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


class RegistryMoved(TransientError):
    """The registry changed between reading it and applying a plan made from it: plan again."""


class TimedOut(TransientError):
    """A wait ran out of time before what it waited for happened (which itself goes on)."""


class InvalidSource(StalledError):
    """The source exists but what it holds cannot be used (bad ref, bad path, bad manifests)."""


class ConfigError(StalledError):
    """deployctl's own settings are wrong."""


class UsageError(StalledError):
    """A command cannot do what was asked (bad argument, refused parameters)."""


class NotFound(UsageError):
    """No deployment, flow run, schedule or work queue by that name; no registry where a
    read-only command looked (it never creates one)."""


class Ambiguous(UsageError):
    """An abbreviated identifier matches several things."""


class Unsupported(UsageError):
    """The configured registry does not offer this (e.g. the embedded engine on a Prefect server)."""
