"""Field-level differences between two records, behind our own ``DiffItem`` type.

The only user of deepdiff: everything else sees ``DiffItem(path, old, new)`` with paths in
the same ``schedules[0].cron`` form diagnostics use. Both sides are normalised records
(``controller.core.records``), so ordering and defaults never show up as changes.
"""

from __future__ import annotations

import json
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
    """What deepdiff finds between ``old`` and ``new``, asked of the top-level fields that
    differ only: the others (compared as JSON, so that ``1``, ``1.0`` and ``true`` still
    differ) cost nothing, and a plan that updates a thousand descriptions takes a tenth of the
    time. Records with too few fields in common deepdiff reports whole, as it would."""
    if old == new and _same(old, new):
        return ()
    union, common = old.keys() | new.keys(), old.keys() & new.keys()
    if len(union) > 1 and len(common) / len(union) < _WHOLE_BELOW:
        return deep_differences(old, new)
    items = [DiffItem(k, MISSING, new[k]) for k in new.keys() - common]
    items += [DiffItem(k, old[k], MISSING) for k in old.keys() - common]
    for key in common:
        before, after = old[key], new[key]
        if _same(before, after):
            continue
        if isinstance(before, dict | list) or isinstance(after, dict | list):
            items += deep_differences({key: before}, {key: after})
        else:  # two scalars: the one change deepdiff would report
            items.append(DiffItem(key, before, after))
    return tuple(sorted(items, key=lambda item: item.path))


_WHOLE_BELOW = 0.33
"""deepdiff's ``threshold_to_diff_deeper``: dictionaries sharing fewer of their keys are one change."""


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)


def deep_differences(old: dict[str, Any], new: dict[str, Any]) -> tuple[DiffItem, ...]:
    """Every difference deepdiff finds between the whole of ``old`` and ``new``."""
    if old == new and _same(old, new):
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
