"""Per-owner state on the Prefect server: inventory, applied records, status, in one block document.

Why a block document: CI runs are stateless, so what deployctl must remember between passes
(which deployments an owner created, what it last applied to each, the last applied commit
and conditions) has to live on the server. A Variable holds at most 5,000 characters, and
labels cannot be changed after a deployment is created; a block document holds any JSON, is
read and replaced in one request each, and appears in Prefect's UI under the block type
"deployctl state". Each deployment also carries the tag ``deployctl-owner:OWNER``, so a person
sees who manages it, and a deployment is pruned only if the inventory lists it **and** it
still carries that tag. Used by ``PrefectRegistry``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from controller.adapters.prefect.client import PrefectApiError, PrefectClient

BLOCK_TYPE_SLUG = "deployctl-state"
SCHEMA = {
    "title": "DeployctlState",
    "type": "object",
    "block_type_slug": BLOCK_TYPE_SLUG,
    "properties": {"state": {"title": "State", "type": "object"}},
    "secret_fields": [],
    "block_schema_references": {},
}


def document_name(owner: str) -> str:
    """Block document names allow only lower-case letters, digits and dashes: hash the owner."""
    return f"owner-{_digest(owner)}"


def control_name(kind: str, owner: str) -> str:
    return f"{kind}-{_digest(owner)}"


def _digest(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:24]


@dataclass
class OwnerState:
    """One owner's document. ``deployments``: id -> what was applied (record, digest, the body
    sent, the server's view digest after the write, input digest, version, commit, artifact)."""

    owner: str
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    document_id: str | None = None
    serial: int = 0
    """Counts applies: a plan read at one serial is applied only at that serial."""

    def to_json(self) -> dict[str, Any]:
        # The per-deployment records are most of the document: compressed, a no-op read of
        # 1,000 deployments moves a tenth of the bytes. Status stays readable in Prefect's UI.
        packed = zlib.compress(json.dumps(self.deployments, separators=(",", ":")).encode(), 6)
        return {
            "owner": self.owner,
            "deployments_zlib": base64.b64encode(packed).decode(),
            "status": self.status,
            "serial": self.serial,
        }


class StateStore:
    def __init__(self, client: PrefectClient) -> None:
        self.client = client
        self._ids: tuple[str, str] | None = None

    def read(self, owner: str) -> OwnerState:
        document = self._document(document_name(owner))
        return OwnerState(owner) if document is None else _state_of(document, owner)

    def read_all(self) -> list[OwnerState]:
        try:
            documents = self.client.get(
                f"/block_types/slug/{BLOCK_TYPE_SLUG}/block_documents", include_secrets="true"
            )
        except PrefectApiError as exc:
            if exc.status == 404:
                return []
            raise
        return [_state_of(d) for d in documents if (d.get("data") or {}).get("state")]

    def write(self, state: OwnerState) -> None:
        state.document_id = self._put(
            document_name(state.owner), state.document_id, {"state": state.to_json()}
        )

    def read_control(self, kind: str, owner: str) -> Any:
        """One controller flag of the owner (``suspended``, ``refresh``), or None if never set.
        Each flag is a document of its own, written whole: a suspend and a relayed refresh
        written at the same moment never undo each other, and an apply never touches them."""
        document = self._document(control_name(kind, owner))
        return (document or {}).get("data", {}).get("value")

    def write_control(self, kind: str, owner: str, value: Any) -> None:
        name = control_name(kind, owner)
        document = self._document(name)
        self._put(name, document["id"] if document else None, {"value": value})

    def _document(self, name: str) -> dict[str, Any] | None:
        try:
            document: dict[str, Any] = self.client.get(
                f"/block_types/slug/{BLOCK_TYPE_SLUG}/block_documents/name/{name}", include_secrets="true"
            )
        except PrefectApiError as exc:
            if exc.status == 404:
                return None
            raise
        return document

    def _put(self, name: str, document_id: str | None, data: dict[str, Any]) -> str:
        """Replace the document's data, or create the document; returns its id."""
        if document_id is None:
            type_id, schema_id = self._block_ids()
            body = {"name": name, "data": data, "block_type_id": type_id, "block_schema_id": schema_id}
            try:
                return str(self.client.write("POST", "/block_documents/", body)["id"])
            except PrefectApiError as exc:
                existing = self._document(name) if exc.status == 409 else None
                if existing is None:  # not a concurrent creation: a real refusal
                    raise
                document_id = str(existing["id"])
        self.client.write(
            "PATCH", f"/block_documents/{document_id}", {"data": data, "merge_existing_data": False}
        )
        return document_id

    def _block_ids(self) -> tuple[str, str]:
        if self._ids is None:
            try:
                block_type = self.client.get(f"/block_types/slug/{BLOCK_TYPE_SLUG}")
            except PrefectApiError as exc:
                if exc.status != 404:
                    raise
                block_type = self.client.write(
                    "POST",
                    "/block_types/",
                    {
                        "name": "deployctl state",
                        "slug": BLOCK_TYPE_SLUG,
                        "description": "What deployctl applied, per owner. Written by deployctl only.",
                    },
                )
            self._ids = (block_type["id"], self._schema_id(block_type["id"]))
        return self._ids

    def _schema_id(self, type_id: str) -> str:
        found = self.client.read(
            "/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [type_id]}}}
        )
        if found:
            return str(found[0]["id"])
        created = self.client.write(
            "POST", "/block_schemas/", {"fields": SCHEMA, "block_type_id": type_id, "capabilities": []}
        )
        return str(created["id"])


def _state_of(document: dict[str, Any], owner: str | None = None) -> OwnerState:
    state = (document.get("data") or {}).get("state") or {}
    packed = state.get("deployments_zlib")
    deployments = json.loads(zlib.decompress(base64.b64decode(packed))) if packed else {}
    return OwnerState(
        owner or state.get("owner", ""),
        deployments,
        state.get("status"),
        document["id"],
        state.get("serial", 0),
    )
