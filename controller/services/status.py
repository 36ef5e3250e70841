"""The status of every source synced into a registry: revisions, conditions, last outcomes.

One document for ``deployctl status``, ``/api/status`` of the controller and the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controller.core.state import SourceStatus
from controller.ports import StatusStore, SyncOutcome


@dataclass(frozen=True)
class SourceReport:
    status: SourceStatus
    outcomes: tuple[SyncOutcome, ...]

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
        }


def source_reports(registry: StatusStore, owner: str | None = None) -> list[SourceReport]:
    return [
        SourceReport(status, tuple(registry.last_outcomes(status.owner)))
        for status in registry.list_statuses()
        if owner in (None, status.owner)
    ]
