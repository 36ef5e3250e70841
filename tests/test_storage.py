"""Artifacts: deterministic, content-addressed, uploaded once, to a folder or any fsspec URL."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import fsspec

from controller.adapters.storage import FsspecStore, LocalStore
from controller.app import App
from controller.engine.building import package, upload_missing
from controller.engine.desired import CodeFile
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.gitrepo import GitRepo, deployment_files

FILES = (CodeFile("flow.py", "100644", "b1"), CodeFile("bin/run.sh", "100755", "b2"))
CONTENT = {"b1": b"def run():\n    pass\n", "b2": b"#!/bin/sh\n"}


def test_packages_are_deterministic_and_keep_modes() -> None:
    first = package(FILES, lambda f: CONTENT[f.blob])
    assert first == package(reversed(FILES), lambda f: CONTENT[f.blob])
    with tarfile.open(fileobj=io.BytesIO(first)) as archive:
        members = {m.name: m for m in archive.getmembers()}
        assert sorted(members) == ["bin/run.sh", "flow.py"]
        assert members["bin/run.sh"].mode == 0o755 and members["flow.py"].mode == 0o644
        assert members["flow.py"].mtime == 0


def test_upload_happens_once_per_digest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    reads: list[str] = []

    def read(file: CodeFile) -> bytes:
        reads.append(file.path)
        return CONTENT[file.blob]

    uris = upload_missing(["d1", "d1"], {"d1": FILES}, read, store)
    assert list(uris) == ["d1"] and store.has("d1") and len(reads) == 2
    upload_missing(["d1"], {"d1": FILES}, read, store)
    assert len(reads) == 2, "an artifact already stored must not be built or uploaded again"


def test_fsspec_url_storage_through_a_sync(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("a"))
    repo.write({"flows/a/b-deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\n"}).commit()
    settings = Settings.resolve(home=str(tmp_path / "state"), storage="memory://deployctl-test", env={})
    result = App(settings).reconciler(SourceSpec(str(repo.root))).reconcile_once(SyncOptions())
    assert result.ok and result.plan is not None and result.plan.counts["create"] == 2
    fs = fsspec.filesystem("memory")
    artifacts = [p for p in fs.find("/deployctl-test") if p.endswith(".tar.gz")]
    assert len(artifacts) == 1, "two deployments sharing a folder share one artifact"
    assert isinstance(FsspecStore("memory://deployctl-test").uri("ab12"), str)
