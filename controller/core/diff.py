"""Field-level differences between two records, behind our own ``DiffItem`` type.

The only user of deepdiff: everything else sees ``DiffItem(path, old, new)`` with paths in
the same ``schedules[0].cron`` form diagnostics use. Both sides are normalised records
(``controller.core.records``), so ordering and defaults never show up as changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MISSING = "<absent>"


@dataclass(frozen=True)
class DiffItem:
    path: str
    old: Any
    new: Any

    def __str__(self) -> str:
        return f"{self.path}: {_short(self.old)} -> {_short(self.new)}"


def diff_records(old: dict[str, Any], new: dict[str, Any]) -> tuple[DiffItem, ...]:
    if old == new:
        return ()
    from deepdiff import DeepDiff  # imported on first use: most commands never diff

    found = DeepDiff(old, new, ignore_order=False, verbose_level=2, view="tree")
    items = []
    for change_type, changes in found.items():
        for change in changes:
            before = MISSING if change_type.endswith("_added") else change.t1
            after = MISSING if change_type.endswith("_removed") else change.t2
            items.append(DiffItem(_path(change.path(output_format="list")), before, after))
    return tuple(sorted(items, key=lambda item: item.path))


def _path(parts: list[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any) -> str:
    text = repr(value) if value is not MISSING else MISSING
    return text if len(text) <= 80 else text[:77] + "..."
