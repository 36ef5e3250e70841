"""JSON Schemas of every accepted file, generated from the models (never written by hand).

``deployctl schema --write`` refreshes ``schemas/``; a test fails when they are stale.
Editors use them through a ``# yaml-language-server: $schema=…`` line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from controller.loading.models.block_deployment import BlockDeploymentManifest
from controller.loading.models.notifications import NotificationSettings
from controller.loading.models.project import ProjectManifest
from controller.loading.models.repo_settings import RepoSettings

SCHEMA_FILES: dict[str, tuple[type[BaseModel], str]] = {
    "deployment.schema.json": (BlockDeploymentManifest, "Prefect 2 block-based deployment.yaml"),
    "prefect.schema.json": (ProjectManifest, "Prefect prefect.yaml project"),
    "deployctl.schema.json": (RepoSettings, "deployctl repository settings (.deployctl.yaml)"),
    "notifications.schema.json": (
        NotificationSettings,
        "deployctl notification settings (notifications.yaml)",
    ),
}


def generate_schemas() -> dict[str, str]:
    """File name -> schema text, deterministic so that staleness is a plain comparison."""
    out = {}
    for name, (model, title) in SCHEMA_FILES.items():
        schema: dict[str, Any] = model.model_json_schema(by_alias=True, mode="validation")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": title,
            **{k: v for k, v in schema.items() if k != "title"},
        }
        out[name] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def stale_schemas(folder: Path) -> list[str]:
    """Names of schema files in ``folder`` that differ from what the models generate."""
    return [
        name
        for name, text in generate_schemas().items()
        if not (folder / name).is_file() or (folder / name).read_text() != text
    ]


def write_schemas(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generate_schemas().items():
        (folder / name).write_text(text)
        written.append(name)
    return written
