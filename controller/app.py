"""Composition root: builds the adapters from settings and hands them to the engine.

The only module that knows which registry, storage and source classes exist. Called by the
CLI (and, later, the controller loop).
"""

from __future__ import annotations

from controller.adapters.git_source import GitSource, SourceSpec
from controller.adapters.registry.sqlite import SqliteRegistry, parse_sqlite_url
from controller.adapters.storage import open_storage
from controller.engine.reconciler import Reconciler
from controller.settings import Settings


def open_registry(settings: Settings) -> SqliteRegistry:
    return SqliteRegistry(parse_sqlite_url(settings.registry_url))


def build_reconciler(settings: Settings, source: SourceSpec) -> Reconciler:
    return Reconciler(
        source=GitSource(source, settings.state_dir),
        registry=open_registry(settings),
        store=open_storage(settings.storage_url),
    )
