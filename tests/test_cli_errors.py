"""Every command against every broken setting: exit code 2, one clear line, never a traceback.

The error tree is mapped to exit codes in one place (``controller.cli``); this table proves
that no command escapes it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli_helpers import invoke, one_clear_line
from tests.gitrepo import repository

COMMANDS = [
    ("sync", "{repo}"),
    ("plan", "{repo}"),
    ("status",),
    ("deployment", "ls"),
    ("deployment", "inspect", "etl/a"),
    ("deployment", "delete", "etl/a"),
    ("deployment", "run", "etl/a"),
    ("deployment", "schedule", "ls", "etl/a"),
    ("flow-run", "ls"),
    ("flow-run", "inspect", "abc"),
    ("flow-run", "logs", "abc"),
    ("flow-run", "cancel", "abc"),
    ("work-queue", "ls"),
    ("work-queue", "pause", "default"),
]

READ_ONLY = {
    ("status",),
    ("deployment", "ls"),
    ("deployment", "inspect", "etl/a"),
    ("deployment", "schedule", "ls", "etl/a"),
    ("flow-run", "ls"),
    ("flow-run", "inspect", "abc"),
    ("flow-run", "logs", "abc"),
    ("work-queue", "ls"),
}


def _directory(tmp: Path) -> str:
    (tmp / "folder.db").mkdir()
    return f"sqlite:///{tmp / 'folder.db'}"


def _under_a_file(tmp: Path) -> str:
    (tmp / "plain-file").write_text("x")
    return f"sqlite:///{tmp / 'plain-file' / 'registry.db'}"


def _not_a_database(tmp: Path) -> str:
    (tmp / "notes.db").write_text("these are my notes, not a database\n" * 100)
    return f"sqlite:///{tmp / 'notes.db'}"


BROKEN_REGISTRIES: dict[str, tuple[Callable[[Path], str], str]] = {
    "unknown scheme": (lambda tmp: "postgres://x", "is not supported"),
    "a directory": (_directory, "is a folder"),
    "under a file": (_under_a_file, "cannot create the registry"),
    "not a database": (_not_a_database, "not a deployctl database"),
    "two slashes": (lambda tmp: "sqlite://registry.db", "three slashes"),
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repository(tmp_path_factory.mktemp("source") / "repo", ["a"]).root


@pytest.mark.parametrize("setting", sorted(BROKEN_REGISTRIES))
def test_every_command_refuses_a_broken_registry_in_one_line(
    tmp_path: Path, repo: Path, setting: str
) -> None:
    make, expected = BROKEN_REGISTRIES[setting]
    url = make(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for command in COMMANDS:
        args = [a.format(repo=repo) for a in command]
        line = one_clear_line(invoke(tmp_path, "--registry", url, *args))
        # where no registry file is, a command that only reads says so rather than make one
        nothing_there = setting == "under a file" and command in READ_ONLY
        assert (f"no registry at {tmp_path / 'plain-file'}" if nothing_there else expected) in line, (
            command,
            line,
        )
    after = {
        p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.parent != tmp_path / ".deployctl"
    }
    assert {p: b for p, b in after.items() if p in before} == before, "nothing unreadable is overwritten"


def test_missing_things_are_named_with_what_to_do(tmp_path: Path, repo: Path) -> None:
    assert invoke(tmp_path, "sync", str(repo)).exit_code == 0
    cases = {
        ("deployment", "inspect", "etl/zzz"): "no deployment 'etl/zzz'",
        ("deployment", "delete", "etl/zzz"): "no deployment 'etl/zzz'",
        ("deployment", "run", "etl/zzz"): "no deployment 'etl/zzz'",
        ("deployment", "schedule", "pause", "etl/a", "nosuch"): "no schedule 'nosuch'",
        ("flow-run", "inspect", "nosuch"): "no flow run 'nosuch'",
        ("flow-run", "cancel", ""): "give a flow run id",
        ("work-queue", "pause", "nosuch"): "no work queue 'nosuch'",
        ("work-queue", "delete", "nosuch"): "no work queue 'nosuch'",
        ("deployment", "run", "etl/a", "--param", "n"): "is not KEY=VALUE",
        ("--storage", "nosuch-protocol://bucket", "sync", str(repo), "--full"): "storage URL",
        ("sync", str(tmp_path / "not-a-repo")): "not inside a git repository",
    }
    (tmp_path / "not-a-repo").mkdir()
    for args, expected in cases.items():
        line = one_clear_line(invoke(tmp_path, *args))
        assert expected in line, (args, line)


def test_a_newer_registry_schema_names_both_versions(tmp_path: Path) -> None:
    import sqlite3

    database = tmp_path / "future.db"
    with sqlite3.connect(database) as db:
        db.execute("PRAGMA user_version = 999")
    line = one_clear_line(invoke(tmp_path, "--registry", f"sqlite:///{database}", "deployment", "ls"))
    assert "999" in line and "upgrade deployctl" in line
