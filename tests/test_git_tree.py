"""What a commit's files look like to deployctl: symlinks, LFS pointers, any name git can hold.

In-repository symlinks are packaged as the content they point to, and validate accepts them
too; links out of the repository are refused by both. LFS pointers are named in a warning.
Folder names with quotes, tabs, backslashes and newlines get the right version.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from controller.adapters.storage import read_artifact
from controller.app import App
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.cli_helpers import invoke
from tests.gitrepo import GitRepo, deployment_files


def sync(home: Path, location: Path) -> tuple[SyncResult, App]:
    app = App(Settings.resolve(home=str(home), env={}))
    return app.reconciler(SourceSpec(str(location))).reconcile_once(SyncOptions()), app


def packaged(app: App, identity: str) -> dict[str, bytes]:
    row = app.registry().get_deployment(identity)
    assert row is not None and row.artifact_uri
    with tarfile.open(fileobj=io.BytesIO(read_artifact(row.artifact_uri)), mode="r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_symlinks_inside_the_repository_are_packaged_with_their_content(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("a", body="from lib import helper\n"))
    repo.write({"shared/lib.py": "def helper():\n    return 1\n", "shared/data/rows.csv": "x,y\n"})
    code = repo.root / "flows" / "a"
    os.symlink("../../shared/lib.py", code / "lib.py")
    os.symlink("../../shared/data", code / "data")
    os.symlink("lib.py", code / "again.py")
    repo.commit("links")
    validated = invoke(tmp_path, "validate", "repo", cwd=tmp_path)
    assert validated.exit_code == 0, validated.output
    result, app = sync(tmp_path / "state", repo.root)
    assert result.ok, result.error or result.diagnostics
    files = packaged(app, "etl/a")
    assert files["lib.py"] == files["again.py"] == b"def helper():\n    return 1\n"
    assert files["data/rows.csv"] == b"x,y\n"


def test_a_symlink_out_of_the_repository_is_refused_by_validate_and_sync(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("a"))
    os.symlink("/etc/hostname", repo.root / "flows" / "a" / "host.txt")
    repo.commit("escaping link")
    assert invoke(tmp_path, "validate", "repo", cwd=tmp_path).exit_code == 2
    result, _ = sync(tmp_path / "state", repo.root)
    assert not result.ok and any("leads outside the repository" in d.message for d in result.diagnostics)


def test_lfs_pointers_are_named_in_a_warning(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("a"))
    repo.write(
        {
            ".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n",
            "flows/a/model.bin": "version https://git-lfs.github.com/spec/v1\n"
            "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
        }
    )
    repo.commit("lfs")
    result, _ = sync(tmp_path / "state", repo.root)
    assert result.ok, result.error
    assert [w for w in result.warnings if "LFS" in w and "flows/a/model.bin" in w], result.warnings


STRANGE = ['q"uote', "t\tab", "back\\slash", "sp ace", "ünï", "new\nline"]


def test_any_folder_name_git_can_hold_gets_its_own_version(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    for index, name in enumerate(STRANGE):
        repo.write(deployment_files(f"d{index}", folder=f"flows/{name}"))
    first = repo.commit("strange names")
    repo.write(deployment_files("plain")).commit("an unrelated deployment")
    result, app = sync(tmp_path / "state", repo.root)
    assert result.ok, result.error or result.diagnostics
    versions = {row.id: row.version for row in app.registry().list_deployments()}
    expected = {f"etl/d{i}": first[:12] for i in range(len(STRANGE))}
    assert versions == {**expected, "etl/plain": repo.git("rev-parse", "HEAD")[:12]}
