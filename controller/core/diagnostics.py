"""Diagnostics: one problem found in one file, with where and how to fix it.

Loading accumulates these instead of raising (Terraform's habit): the CLI renders them, the
reconciler refuses a commit that has any error. Pure data, no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem at ``file:line:column`` in ``field`` (a dotted path like ``schedules[0].cron``).

    ``line`` and ``column`` are 1-based; 0 means the problem concerns the whole file.
    ``code`` is a stable slug (``unknown-key``, ``yaml-syntax`` …) for tests and JSON output.
    """

    file: str
    line: int
    column: int
    field: str
    message: str
    code: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = self.file if self.line == 0 else f"{self.file}:{self.line}:{self.column}"
        field = f" {self.field}:" if self.field else ""
        tag = "" if self.severity is Severity.ERROR else " warning:"
        return f"{where}:{tag}{field} {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
            "code": self.code,
            "severity": self.severity.value,
        }


def first_problem(diagnostics: Iterable[Diagnostic]) -> str | None:
    """The first error at its place (``file:line:column: field: message``) on one line, and how
    many more errors there are; None when there is none. What a refusal's reason says, wherever
    it is shown (the CLI's error line, the controller's log, ``status``)."""
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if not errors:
        return None
    first = " ".join(str(errors[0]).splitlines())
    return first + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")


FieldPath = tuple["str | int", ...]


def format_field_path(path: FieldPath) -> str:
    """``("schedules", 0, "cron")`` -> ``schedules[0].cron``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
