"""Variables of the registry, read by ``{{ prefect.variables.NAME }}`` placeholders at plan time.

A name is what Prefect accepts (lower-case letters, digits, ``_`` and ``-``); an unknown one is
an error naming the known ones. Whether ``set`` and ``unset`` write is the backend's
``Capabilities.variables_writable``, asked before anything is written. Called by the CLI's
``variable`` commands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.errors import NotFound, Unsupported, UsageError
from controller.ports import VariableStore

NAME = re.compile(r"[a-z0-9_-]{1,255}")


@dataclass
class Variables:
    registry: VariableStore
    writable: bool = True
    """The backend's ``Capabilities.variables_writable``."""
    location: str = "the registry"

    def all(self) -> dict[str, str]:
        return self.registry.read_variables()

    def get(self, name: str) -> str:
        found = self.all()
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise NotFound(
                f"no variable {name!r} (variables: {known}; 'deployctl variable set {name} VALUE')"
            )
        return found[name]

    def set(self, name: str, value: str) -> None:
        if not NAME.fullmatch(name):
            raise UsageError(
                f"variable name {name!r}: use lower-case letters, digits, '_' and '-' (as Prefect does)"
            )
        self._writable(f"prefect variable set {name} VALUE")
        self.registry.set_variable(name, value)

    def unset(self, name: str) -> None:
        self._writable(f"prefect variable unset {name}")
        if not self.registry.delete_variable(name):
            self.get(name)  # raises NotFound with the known variables

    def _writable(self, prefect_command: str) -> None:
        if not self.writable:
            raise Unsupported(
                f"variables of {self.location} are managed by the server, not by deployctl "
                f"(for Prefect: `{prefect_command}`); 'deployctl variable get|ls' read them"
            )
