"""The owner of a source is its repository's identity, not how its location was typed.

Run as people run deployctl: the command with only HOME set, relative paths, from several
directories. Every spelling of one repository (``flows``, ``flows/``, ``./flows``, absolute,
``file://``) is one owner; two repositories called ``flows`` are never one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.adapters.git.identity import remote_identity
from controller.engine.reconciler import default_owner
from tests.cli_helpers import invoke
from tests.gitrepo import GitRepo, deployment_files, repository


def owners(home: Path) -> list[str]:
    with sqlite3.connect(home / ".deployctl" / "registry.db") as db:
        return [r[0] for r in db.execute("SELECT owner FROM sources")]


def deployment_commits(home: Path) -> dict[str, str]:
    with sqlite3.connect(home / ".deployctl" / "registry.db") as db:
        return dict(db.execute("SELECT id, commit_sha FROM deployments").fetchall())


def test_every_spelling_of_one_repository_is_one_owner(tmp_path: Path) -> None:
    repo = repository(tmp_path / "team" / "flows", ["a"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    first = invoke(tmp_path, "sync", "flows", cwd=tmp_path / "team")
    assert first.exit_code == 0, first.output
    for spelling, cwd in (
        ("flows/", tmp_path / "team"),
        ("./flows", tmp_path / "team"),
        (".", repo.root),
        (str(repo.root), elsewhere),
        ("../team/flows/", elsewhere),
    ):
        again = invoke(tmp_path, "sync", spelling, cwd=cwd)
        assert again.exit_code == 0 and "up to date" in again.stdout, (spelling, again.output)
    by_url = invoke(tmp_path, "sync", repo.root.as_uri() + "/", cwd=elsewhere)
    assert by_url.exit_code == 0, by_url.output
    assert "0 to create, 0 to update, 0 to delete, 1 unchanged" in by_url.stdout, by_url.stdout
    assert len(owners(tmp_path)) == 1


def test_a_sub_folder_is_the_same_owner_however_it_is_reached(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "flows")
    repo.write(deployment_files("a", folder="team/a")).commit()
    assert invoke(tmp_path, "sync", "flows/team", cwd=tmp_path).exit_code == 0
    again = invoke(tmp_path, "sync", "team/", cwd=repo.root)
    assert "up to date" in again.stdout, again.output
    assert len(owners(tmp_path)) == 1


def test_two_repositories_with_one_name_are_two_owners(tmp_path: Path) -> None:
    one = repository(tmp_path / "one" / "flows", ["a"])
    two = repository(tmp_path / "two" / "flows", ["a", "b"])
    assert invoke(tmp_path, "sync", "flows", cwd=tmp_path / "one").exit_code == 0
    second = invoke(tmp_path, "sync", "flows", cwd=tmp_path / "two")
    assert "force-push" not in second.output and "rewritten" not in second.output, second.output
    assert "etl/a: exists in the registry but is not owned by" in second.output, second.output
    commits = deployment_commits(tmp_path)
    assert commits["etl/a"] == one.git("rev-parse", "HEAD"), "the other team's deployment was touched"
    assert commits["etl/b"] == two.git("rev-parse", "HEAD")
    assert len(owners(tmp_path)) == 2


def test_one_owner_over_two_repositories_says_the_repository_changed(tmp_path: Path) -> None:
    repository(tmp_path / "one" / "flows", ["a"])
    repository(tmp_path / "two" / "flows", ["a", "b"])
    assert invoke(tmp_path, "sync", "flows", "--owner", "team", cwd=tmp_path / "one").exit_code == 0
    second = invoke(tmp_path, "sync", "flows", "--owner", "team", cwd=tmp_path / "two")
    assert second.exit_code == 2
    assert "different repository" in second.output and "force-push" not in second.output, second.output


@pytest.mark.parametrize(
    "spelling",
    [
        "https://github.com/Org/flows",
        "https://github.com/Org/flows/",
        "https://github.com/Org/flows.git",
        "https://GitHub.COM/Org/flows.git/",
        "https://someone:s3cret@github.com/Org/flows",
        "https://x-access-token:ghp_abc@github.com/Org/flows.git",
    ],
)
def test_every_spelling_of_one_url_is_one_identity_without_credentials(spelling: str) -> None:
    identity = remote_identity(spelling)
    assert identity == "https://github.com/Org/flows"
    assert default_owner(identity, "main", "deploy") == default_owner(
        remote_identity("https://github.com/Org/flows"), "main", "deploy/"
    )


def test_ssh_spellings_agree_and_other_repositories_refs_and_paths_are_other_owners() -> None:
    assert remote_identity("git@github.com:Org/flows.git") == remote_identity(
        "ssh://git@github.com/Org/flows"
    )
    base = default_owner(remote_identity("https://github.com/Org/flows"), "main", "")
    others = [
        default_owner(remote_identity("https://github.com/Org/flows-other"), "main", ""),
        default_owner(remote_identity("https://github.com/org/flows"), "main", ""),  # paths keep their case
        default_owner(remote_identity("https://github.com/Org/flows"), "release", ""),
        default_owner(remote_identity("https://github.com/Org/flows"), "main", "deploy"),
    ]
    assert base not in others and len(set(others)) == len(others)
