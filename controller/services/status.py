"""The status of every source synced into a registry: revisions, conditions, last outcomes.

One document for ``deployctl status``, ``/api/status`` of the controller and the Python API.
An owner held at a rolled-back revision (``deployctl rollback``) says so in ``held``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.core.history import Hold
from controller.core.state import SourceStatus
from controller.ports import HoldStore, StatusStore, SyncOutcome


@dataclass(frozen=True)
class SourceReport:
    status: SourceStatus
    outcomes: tuple[SyncOutcome, ...]
    hold: Hold | None = None

    def to_json(self) -> dict[str, Any]:
        st = self.status
        return {
            "owner": st.owner,
            "repository": st.repo_url,
            "ref": st.ref,
            "path": st.path,
            "last_attempted_revision": st.last_attempted_revision,
            "last_applied_revision": st.last_applied_revision,
            "updated_at": st.updated_at,
            "conditions": [c.to_json() for c in st.conditions],
            "last_outcomes": [o.__dict__ for o in self.outcomes],
            "held": self.hold.to_json() if self.hold else None,
        }


def source_reports(
    registry: StatusStore, owner: str | None = None, holds: HoldStore | None = None
) -> list[SourceReport]:
    return [
        SourceReport(
            status,
            tuple(registry.last_outcomes(status.owner)),
            holds.read_hold(status.owner) if holds is not None else None,
        )
        for status in registry.list_statuses()
        if owner in (None, status.owner)
    ]
