"""The history of passes and the holds of owners on a Prefect server, beside their state.

Each owner's passes are one block document of the "deployctl state" type,
``history-<hash>``, holding its newest passes (at most the limit) as compressed JSON: a pass
adds one read and one write, and every CI job and controller that talks to the server sees
one history. Two passes of one owner recorded at the same instant may lose one record (the
document is written whole; the apply itself is guarded by the owner's sync lock, the history
is not). A hold is a control document, ``held-<hash>``, written whole like the suspend flag
(``control``). Built by ``PrefectBackend``; seen through ``HistoryStore`` and ``HoldStore``.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from controller.adapters.prefect.client import PrefectClient
from controller.adapters.prefect.state import BLOCK_TYPE_SLUG, StateStore, control_name
from controller.core.history import Hold, PassRecord

HISTORY = "history"
HELD = "held"


class PrefectHistory:
    def __init__(self, client: PrefectClient) -> None:
        self.client = client
        self._store = StateStore(client)

    def close(self) -> None:
        self.client.close()

    def record_pass(self, record: PassRecord, keep: int) -> None:
        passes = [record.to_json(), *_unpack(self._store.read_control(HISTORY, record.owner))]
        self._store.write_control(HISTORY, record.owner, _pack(passes[: max(keep, 1)]))

    def list_passes(
        self, owner: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[PassRecord]:
        if owner is not None:
            found = _unpack(self._store.read_control(HISTORY, owner))
        else:  # every owner's, merged newest first
            found = sorted(self._every_owner(), key=lambda p: p["started_at"], reverse=True)
        shown = found[offset:] if limit is None else found[offset : offset + limit]
        return [PassRecord.from_json(p) for p in shown]

    def passes_of(self, deployment: str, limit: int | None = None) -> list[PassRecord]:
        found = [
            p
            for p in sorted(self._every_owner(), key=lambda p: p["started_at"], reverse=True)
            if any(c["deployment"] == deployment for c in p.get("changes") or ())
        ]
        return [PassRecord.from_json(p) for p in found[:limit]]

    def _every_owner(self) -> list[dict[str, Any]]:
        documents = self.client.paged(
            "/block_documents/filter",
            {
                "block_types": {"slug": {"any_": [BLOCK_TYPE_SLUG]}},
                "block_documents": {"name": {"like_": f"{HISTORY}-"}},
                "include_secrets": True,
            },
        )
        return [
            p
            for d in documents
            if str(d.get("name", "")).startswith(f"{HISTORY}-")
            for p in _unpack((d.get("data") or {}).get("value"))
        ]

    def read_hold(self, owner: str) -> Hold | None:
        value = self._store.read_control(HELD, owner)
        return Hold(owner, value["revision"], value["since"]) if value else None

    def set_hold(self, owner: str, hold: Hold | None) -> None:
        self._store.write_control(HELD, owner, hold.to_json() if hold else None)


def history_document(owner: str) -> str:
    return control_name(HISTORY, owner)


def _pack(passes: list[dict[str, Any]]) -> dict[str, Any]:
    packed = zlib.compress(json.dumps(passes, separators=(",", ":")).encode(), 6)
    return {"passes_zlib": base64.b64encode(packed).decode(), "count": len(passes)}


def _unpack(value: Any) -> list[dict[str, Any]]:
    if not value or not value.get("passes_zlib"):
        return []
    passes: list[dict[str, Any]] = json.loads(zlib.decompress(base64.b64decode(value["passes_zlib"])))
    return passes
