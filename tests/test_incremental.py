"""Incremental sync: a commit re-reads only the manifests whose inputs it changed.

What is parsed is observed through a fresh reconciler's parse cache (as in a fresh CI
process); every doubt (``--full``, first sync, drift, settings change, rewrite) reads all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.adapters.sqlite.registry import SqliteRegistry
from controller.app import App
from controller.core.plan import Action
from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.gitrepo import GitRepo, deployment_files

NAMES = ["a", "b", "c", "d"]


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    for name in NAMES:
        repo.write(deployment_files(name))
    repo.write(deployment_files("team", folder="team"))
    repo.write(deployment_files("inner", folder="team/inner"))
    repo.commit("initial")
    return repo


def fresh(tmp_path: Path, repo: GitRepo) -> Reconciler:
    return App(Settings.resolve(home=str(tmp_path / "state"), env={})).reconciler(SourceSpec(str(repo.root)))


def sync(tmp_path: Path, repo: GitRepo, **options: bool) -> tuple[SyncResult, set[str]]:
    """One pass by a fresh reconciler, and the manifest files it parsed."""
    reconciler = fresh(tmp_path, repo)
    result = reconciler.reconcile_once(SyncOptions(**options))
    assert result.error is None or result.plan is not None and result.plan.refused, result.error
    return result, {path for path, _ in reconciler.builder.load_cache.parsed}


def updates(result: SyncResult) -> set[str]:
    assert result.plan is not None
    return {c.id for c in result.plan.changes if c.action is not Action.NOOP}


def test_one_changed_flow_rereads_only_its_manifest(tmp_path: Path, repo: GitRepo) -> None:
    _, parsed = sync(tmp_path, repo)
    assert len(parsed) == 6
    repo.write({"flows/b/flow.py": "def run(n=2):\n    return n\n"})
    commit = repo.commit("change b")
    result, parsed = sync(tmp_path, repo)
    assert parsed == {"flows/b/deployment.yaml"}
    assert updates(result) == {"etl/b"}
    assert result.plan is not None and result.plan.counts == {
        "create": 0,
        "update": 1,
        "delete": 0,
        "noop": 5,
    }
    assert len(result.plan.changes) == 1, "the five untouched deployments are counted, not read"
    changed = next(c for c in result.plan.changes if c.id == "etl/b")
    assert changed.desired is not None and changed.desired.version == commit[:12]


def test_a_change_in_a_nested_folder_rereads_every_enclosing_manifest(tmp_path: Path, repo: GitRepo) -> None:
    sync(tmp_path, repo)
    repo.write({"team/inner/flow.py": "def run(n=3):\n    return n\n"})
    repo.commit("change inner")
    result, parsed = sync(tmp_path, repo)
    assert parsed == {"team/deployment.yaml", "team/inner/deployment.yaml"}
    assert updates(result) == {"etl/team", "etl/inner"}


def test_a_deleted_manifest_is_pruned_within_the_cap_of_the_whole_owned_set(
    tmp_path: Path, repo: GitRepo
) -> None:
    sync(tmp_path, repo)
    repo.remove("flows/a").commit("remove one of six")
    result, parsed = sync(tmp_path, repo)
    assert parsed == set() and result.ok
    assert result.plan is not None and [c.id for c in result.plan.of(Action.DELETE)] == ["etl/a"]
    repo.remove("flows/b", "flows/c", "flows/d").commit("remove three of five")
    result, parsed = sync(tmp_path, repo)
    assert parsed == set()
    assert result.plan is not None and result.plan.refused and result.plan.owned_count == 5


def test_a_duplicate_of_an_untouched_identity_is_still_refused(tmp_path: Path, repo: GitRepo) -> None:
    sync(tmp_path, repo)
    repo.write(deployment_files("a", folder="copies/a")).commit("duplicate a")
    reconciler = fresh(tmp_path, repo)
    result = reconciler.reconcile_once(SyncOptions())
    assert result.error is not None and {d.file for d in result.diagnostics} == {
        "flows/a/deployment.yaml",
        "copies/a/deployment.yaml",
    }


@pytest.mark.parametrize("doubt", ["full", "drift", "settings", "rewrite"])
def test_any_doubt_reads_every_manifest(tmp_path: Path, repo: GitRepo, doubt: str) -> None:
    sync(tmp_path, repo)
    repo.write({"flows/b/flow.py": "def run(n=2):\n    return n\n"})
    options = {}
    if doubt == "full":
        options["full"] = True
    elif doubt == "drift":
        registry = SqliteRegistry(tmp_path / "state" / "registry.db")
        registry.edit_record("etl/c", lambda record: record.update(paused=True))
        registry.close()
    elif doubt == "settings":
        repo.write({".deployctl.yaml": "defaults:\n  tags: [x]\n"})
    else:
        repo.git("commit", "-q", "--amend", "--allow-empty", "-m", "rewritten")
        options["allow_rewind"] = True
    repo.commit("change b")
    result, parsed = sync(tmp_path, repo, **options)
    assert len(parsed) == 6
    assert "etl/b" in updates(result)


def test_deployctl_sync_after_one_change_then_full_plan_agrees(tmp_path: Path, repo: GitRepo) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(tmp_path)}

    def deployctl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "controller", *args],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=repo.root.parent,
            env=env,
        )

    assert deployctl("sync", "repo").returncode == 0
    repo.write({"flows/c/flow.py": "def run(n=9):\n    return n\n"})
    commit = repo.commit("change c")
    done = deployctl("sync", "repo", "-o", "json")
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)["changes"]
    assert [(c["deployment"], c["version"]) for c in changes] == [("etl/c", commit[:12])]
    again = deployctl("plan", "repo", "--full", "-o", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["changes"] == [], again.stdout
    rows = {r["id"]: r for r in json.loads(deployctl("deployment", "ls", "-o", "json").stdout)}
    assert rows["etl/c"]["version"] == commit[:12]
    assert (tmp_path / ".deployctl" / "registry.db").exists()


def test_a_sync_of_an_applied_commit_imports_no_loader(tmp_path: Path, repo: GitRepo) -> None:
    """The no-op pass CI makes on every push must stay cheap: no pydantic models, no deepdiff."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(tmp_path)}
    probe = (
        "import sys\nsys.argv = ['deployctl', 'sync', 'repo']\nfrom controller.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)"
    )
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=repo.root.parent
        )
    assert "up to date" in done.stdout, done.stdout + done.stderr
    loaded = set(done.stderr.splitlines()[-1].split())
    heavy = {"pydantic", "deepdiff", "controller.loading.loader"}
    assert not loaded & heavy, loaded & heavy


def test_one_changed_lists_only_its_folders_and_reads_only_its_deployments(
    tmp_path: Path, repo: GitRepo
) -> None:
    """Work proportional to the change: neither the whole tree nor the whole registry is read."""
    sync(tmp_path, repo)
    repo.write({"flows/b/flow.py": "def run(n=2):\n    return n\n"}).commit("change b")
    reconciler = fresh(tmp_path, repo)
    snapshots, whole_reads = [], []
    take, read_state = reconciler.source.snapshot, reconciler.registry.read_state
    reconciler.source.snapshot = lambda: snapshots.append(take()) or snapshots[-1]  # type: ignore[method-assign]
    reconciler.registry.read_state = lambda owner: whole_reads.append(owner) or read_state(owner)  # type: ignore[method-assign]
    result = reconciler.reconcile_once(SyncOptions())
    assert result.ok and updates(result) == {"etl/b"}
    assert "tree" not in vars(snapshots[0]), "the whole tree was listed"
    assert whole_reads == [], "every deployment of the registry was read"
    assert result.plan is not None and result.plan.counts["noop"] == 5


@pytest.mark.parametrize(
    "layout",
    ["entry outside its folder", "symlink beside the change", "project at the root"],
)
def test_what_a_part_of_the_tree_cannot_answer_is_read_whole(
    tmp_path: Path, repo: GitRepo, layout: str
) -> None:
    """An entrypoint outside its folder (found among the files of enclosing folders), a
    symlink whose target may lie anywhere, a project at the root: the pass agrees with --full."""
    if layout == "entry outside its folder":
        repo.write({"shared/flow.py": "def run(n=1):\n    return n\n", "shared/lib/helpers.py": "X = 1\n"})
        change = {"shared/job/deployment.yaml": "name: job\nflow_name: etl\nentrypoint: ../flow.py:run\n"}
    elif layout == "symlink beside the change":
        (repo.root / "flows" / "b" / "shared.py").symlink_to("../a/flow.py")
        change = {"flows/b/flow.py": "def run(n=5):\n    return n\n"}
    else:
        repo.write({"prefect.yaml": "deployments:\n- name: rooted\n  entrypoint: flows/a/flow.py:run\n"})
        change = {"flows/c/flow.py": "def run(n=7):\n    return n\n"}
    repo.git("add", "-A")
    repo.commit("layout")
    sync(tmp_path, repo)
    repo.write(change).commit("change")
    result, _ = sync(tmp_path, repo)
    assert result.ok, result.error
    again = fresh(tmp_path, repo).reconcile_once(SyncOptions(full=True, dry_run=True))
    assert again.plan is not None and not again.plan.has_changes, [c.id for c in again.plan.changes]


def test_a_registry_written_before_the_entry_column_is_upgraded_in_place(
    tmp_path: Path, repo: GitRepo
) -> None:
    """Upgrading derives each deployment's entry_outside from its record and keeps the
    generation: the first incremental pass after an upgrade is still incremental."""
    repo.write({"shared/flow.py": "def run(n=1):\n    return n\n"})
    repo.write({"shared/job/deployment.yaml": "name: job\nflow_name: etl\nentrypoint: ../flow.py:run\n"})
    repo.commit("one entry outside its folder")
    sync(tmp_path, repo)
    database = tmp_path / "state" / "registry.db"
    with sqlite3.connect(database) as db:  # back to schema 5, as an older deployctl left it
        before = dict(db.execute("SELECT id, entry_outside FROM deployments"))
        generation = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        db.executescript(
            "DROP INDEX deployments_owner_file; DROP INDEX deployments_owner_outside; "
            "CREATE INDEX deployments_owner ON deployments(owner); "
            "ALTER TABLE deployments DROP COLUMN entry_outside; ALTER TABLE sources DROP COLUMN identity; "
            "PRAGMA user_version = 5;"
        )
    assert before["etl/job"] == 1 and sum(before.values()) == 1
    SqliteRegistry(database).close()
    with sqlite3.connect(database) as db:
        assert dict(db.execute("SELECT id, entry_outside FROM deployments")) == before
        assert db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone() == generation


def full_plan(tmp_path: Path, repo: GitRepo) -> dict[str, int]:
    result = fresh(tmp_path, repo).reconcile_once(SyncOptions(full=True, dry_run=True))
    assert result.plan is not None
    return result.plan.counts


def test_a_symlink_to_a_file_elsewhere_makes_every_pass_full(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write({**deployment_files("a"), "shared/flow.py": "def run(n=1):\n    return n\n"})
    repo.write({"flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\n"})
    (repo.root / "flows/b/flow.py").symlink_to("../../shared/flow.py")
    repo.commit("b's flow is a link")
    sync(tmp_path, repo)
    repo.write({"shared/flow.py": "def run(n=1, extra: int = 2):\n    return n\n"}).commit("shared changes")
    result, parsed = sync(tmp_path, repo)
    assert updates(result) == {"etl/b"} and len(parsed) == 2, "the link's target changed b"
    assert full_plan(tmp_path, repo)["update"] == 0


def test_a_write_between_the_count_and_the_read_makes_the_pass_full(tmp_path: Path, repo: GitRepo) -> None:
    sync(tmp_path, repo)
    repo.write({"flows/b/flow.py": "def run(n=2):\n    return n\n"}).commit("change b")
    reconciler = fresh(tmp_path, repo)
    read_part, edited = reconciler.registry.read_part, []

    def racing_read_part(*args: object) -> object:
        if not edited:  # another process pauses an untouched deployment right now
            other = SqliteRegistry(tmp_path / "state" / "registry.db")
            other.edit_record("etl/c", lambda record: record.update(paused=True))
            other.close()
            edited.append(True)
        return read_part(*args)  # type: ignore[arg-type]

    reconciler.registry.read_part = racing_read_part  # type: ignore[method-assign]
    result = reconciler.reconcile_once(SyncOptions())
    assert updates(result) == {"etl/b", "etl/c"}, "the drift is seen (and restored), as a full pass does"
    assert full_plan(tmp_path, repo)["update"] == 0


def test_with_pruning_off_a_kept_deployment_is_counted_as_a_full_pass_counts_it(
    tmp_path: Path, repo: GitRepo
) -> None:
    repo.write({".deployctl.yaml": "prune:\n  enabled: false\n"}).commit("no pruning")
    sync(tmp_path, repo)
    repo.remove("flows/a").commit("a leaves git, and stays")
    sync(tmp_path, repo)
    repo.write({"flows/b/flow.py": "def run(n=2):\n    return n\n"}).commit("change b")
    result, _ = sync(tmp_path, repo, dry_run=True)
    assert result.plan is not None and result.plan.counts == full_plan(tmp_path, repo)


def test_a_changed_name_that_is_not_utf8_never_wedges_a_long_lived_reconciler(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write({**deployment_files("a"), **deployment_files("b")})
    odd = repo.root / "flows" / "b" / os.fsdecode(b"caf\xe9.txt")
    odd.write_text("1")
    repo.commit("a file named in latin-1")
    reconciler = fresh(tmp_path, repo)
    assert reconciler.reconcile_once(SyncOptions()).ok
    odd.write_text("2")
    repo.commit("change it")
    first = reconciler.reconcile_once(SyncOptions())
    assert first.ok and updates(first) == {"etl/b"}
    assert reconciler.reconcile_once(SyncOptions(full=True)).ok


def test_a_manifest_path_that_is_not_utf8_is_a_diagnostic(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("a"))
    folder = repo.root / os.fsdecode(b"caf\xe9")
    folder.mkdir()
    (folder / "deployment.yaml").write_text("name: x\nflow_name: etl\nentrypoint: flow.py:run\n")
    (folder / "flow.py").write_text("def run():\n    pass\n")
    repo.commit("a folder named in latin-1")
    result = fresh(tmp_path, repo).reconcile_once(SyncOptions())
    (diagnostic,) = result.diagnostics
    assert str(diagnostic).startswith("caf\ufffd/deployment.yaml:1:1: this path is not valid UTF-8")
    assert result.error is not None and "nothing was applied" in result.error


def test_changing_how_prefect_workers_get_the_code_rewrites_the_deployments(
    tmp_path: Path, repo: GitRepo
) -> None:
    sync(tmp_path, repo)
    repo.write({".deployctl.yaml": "prefect:\n  code: storage\n"}).commit("ship code through storage")
    result, _ = sync(tmp_path, repo)
    assert len(updates(result)) == 6
    assert result.plan is not None
    assert {str(d) for c in result.plan.changes for d in c.diff} == {
        "code_delivery: <absent> -> {'code': 'storage'}"
    }


def test_a_long_lived_reconciler_records_a_new_link_as_a_fresh_one_does(tmp_path: Path) -> None:
    """The controller keeps one reconciler, whose digests are memoised across passes."""
    repo = GitRepo(tmp_path / "repo")
    repo.write({**deployment_files("a"), **deployment_files("b")}).commit("initial")
    live = fresh(tmp_path, repo)
    assert live.reconcile_once(SyncOptions()).ok
    (repo.root / "flows/b/data.txt").symlink_to("../../shared/data.txt")  # dangling for now
    repo.commit("a link")
    assert live.reconcile_once(SyncOptions()).ok
    with sqlite3.connect(tmp_path / "state" / "registry.db") as db:
        (record,) = db.execute("SELECT record FROM deployments WHERE id = 'etl/b'").fetchone()
    assert json.loads(record).get("code_links") is True
