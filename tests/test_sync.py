"""Reconcile passes against real git repositories and a real SQLite registry."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from controller.app import App
from controller.core.plan import Action, Cause
from controller.engine.reconciler import Reconciler, SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.gitrepo import GitRepo, deployment_files, repository


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.resolve(home=str(tmp_path / "state"), env={})


def reconciler(
    settings: Settings, location: str | Path, ref: str | None = None, path: str = ""
) -> Reconciler:
    return App(settings).reconciler(SourceSpec(str(location), ref, path))


def sync(settings: Settings, location: str | Path, **options: object) -> SyncResult:
    ref = options.pop("ref", None)
    return reconciler(settings, location, ref).reconcile_once(SyncOptions(**options))  # type: ignore[arg-type]


def rows(settings: Settings) -> dict[str, dict[str, object]]:
    with sqlite3.connect(settings.home / "registry.db") as db:
        db.row_factory = sqlite3.Row
        return {r["id"]: dict(r) for r in db.execute("SELECT * FROM deployments")}


def database_content(settings: Settings) -> list[tuple[str, list[tuple[object, ...]]]]:
    with sqlite3.connect(settings.home / "registry.db") as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        return [(t, sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)) for t in tables]


def test_create_records_versions_and_uploads_code(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c"])
    head = repo.git("rev-parse", "HEAD")
    result = sync(settings, repo.root)
    assert result.ok and result.applied
    assert result.plan is not None and result.plan.counts["create"] == 3
    stored = rows(settings)
    assert sorted(stored) == ["etl/a", "etl/b", "etl/c"]
    for row in stored.values():
        assert row["version"] == head[:12] and row["commit_sha"] == head and row["branch"] == "main"
        assert row["repo_url"] == str(repo.root) and row["owner"] == result.owner
        artifact = Path(str(row["artifact_uri"]).removeprefix("file://"))
        assert artifact.is_file() and artifact.stat().st_size > 0


def test_new_commit_changes_only_the_touched_deployments_version(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c"])
    first = repo.git("rev-parse", "HEAD")
    sync(settings, repo.root)
    second = repo.write({"flows/b/flow.py": "def run(n=2):\n    print('b v2', n)\n"}).commit("touch b")
    result = sync(settings, repo.root)
    assert result.ok and result.plan is not None
    assert [(c.action, c.id) for c in result.plan.changes if c.action is not Action.NOOP] == [
        (Action.UPDATE, "etl/b")
    ]
    versions = {i: r["version"] for i, r in rows(settings).items()}
    assert versions == {"etl/a": first[:12], "etl/b": second[:12], "etl/c": first[:12]}


def test_ignored_files_do_not_change_a_version(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write({"flows/a/.prefectignore": "notes/\n"}).commit("ignore notes")
    sync(settings, repo.root)
    before = rows(settings)["etl/a"]["version"]
    repo.write({"flows/a/notes/todo.md": "later"}).commit("notes only")
    result = sync(settings, repo.root)
    assert result.ok and result.plan is not None and not result.plan.has_changes
    assert rows(settings)["etl/a"]["version"] == before


@pytest.mark.parametrize("full", [False, True], ids=["fast-path", "full-plan"])
def test_second_sync_of_the_same_commit_writes_nothing(
    tmp_path: Path, settings: Settings, full: bool
) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    assert sync(settings, repo.root).ok
    db_files = sorted((settings.home).glob("registry.db*"))
    before = database_content(settings), [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in db_files]
    result = sync(settings, repo.root, full=full)
    after = database_content(settings), [(p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in db_files]
    assert result.ok and result.plan is not None and not result.plan.has_changes
    assert result.up_to_date is not full
    assert after == before


def test_removal_from_git_prunes(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c", "d"])
    sync(settings, repo.root)
    repo.remove("flows/d").commit("drop d")
    result = sync(settings, repo.root)
    assert result.ok and result.plan is not None and result.plan.counts["delete"] == 1
    assert sorted(rows(settings)) == ["etl/a", "etl/b", "etl/c"]
    with sqlite3.connect(settings.home / "registry.db") as db:
        assert {r[0] for r in db.execute("SELECT deployment_id FROM inventory")} == {
            "etl/a",
            "etl/b",
            "etl/c",
        }


def test_deployment_not_owned_is_never_touched(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    sync(settings, repo.root)
    with sqlite3.connect(settings.home / "registry.db") as db:
        db.execute("INSERT INTO flows VALUES ('etl', 'now') ON CONFLICT DO NOTHING")
        db.execute(
            "INSERT INTO deployments (id, flow_name, name, record, record_digest, owner, work_queue_name,"
            " created_at, updated_at) VALUES ('etl/manual', 'etl', 'manual', '{}', 'x', NULL, 'default',"
            " 'then', 'then')"
        )
    repo.write(deployment_files("manual")).commit("declare manual too")
    result = sync(settings, repo.root)
    assert not result.ok and result.plan is not None and result.plan.conflicts == ("etl/manual",)
    assert rows(settings)["etl/manual"]["record"] == "{}"
    repo.remove("flows/manual", "flows/b").commit("drop manual and b")
    assert sync(settings, repo.root).ok
    assert sorted(rows(settings)) == ["etl/a", "etl/manual"]
    assert rows(settings)["etl/manual"]["record"] == "{}"


def test_invalid_manifest_refuses_the_whole_commit(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c"])
    first = repo.git("rev-parse", "HEAD")
    sync(settings, repo.root)
    before = database_content(settings)
    repo.write(deployment_files("a", cron="5 * * * *"))
    repo.write({"flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\nshedule: 1\n"})
    second = repo.remove("flows/c").commit("change a, break b, drop c")
    result = sync(settings, repo.root)
    assert not result.ok and result.error and "nothing was applied" in result.error
    assert [str(d) for d in result.diagnostics] == [
        "flows/b/deployment.yaml:4:1: shedule: unknown key 'shedule' (did you mean 'schedule'?)"
    ]
    content = dict(database_content(settings))
    assert content["deployments"] == dict(before)["deployments"]
    status = reconciler(settings, repo.root).registry.read_status(result.owner)
    assert status is not None
    assert (status.last_applied_revision, status.last_attempted_revision) == (first, second)
    assert [(c.type.value, c.reason.value) for c in status.conditions] == [
        ("Ready", "ValidationFailed"),
        ("Stalled", "ValidationFailed"),
    ]


def test_partial_freezes_only_the_broken_files_deployments(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c"])
    sync(settings, repo.root)
    old_b = rows(settings)["etl/b"]
    repo.write(deployment_files("a", cron="5 * * * *"))
    repo.write({"flows/b/deployment.yaml": "name: [broken\n"})
    repo.remove("flows/c").commit("change a, break b, drop c")
    result = sync(settings, repo.root, partial=True, force_prune=True)
    assert result.plan is not None and result.plan.frozen == ("etl/b",)
    assert not result.ok  # applied, but the broken file is reported
    stored = rows(settings)
    assert sorted(stored) == ["etl/a", "etl/b"]
    assert stored["etl/b"] == old_b
    assert json.loads(str(stored["etl/a"]["record"]))["schedules"][0]["cron"] == "5 * * * *"


def test_duplicate_identity_refuses_the_commit(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write(deployment_files("a", folder="other/a")).commit("same identity twice")
    result = sync(settings, repo.root)
    assert not result.ok and rows(settings) == {}
    assert {d.code for d in result.diagnostics} == {"duplicate-identity"}


def test_empty_repository_is_refused_unless_allowed(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b"])
    sync(settings, repo.root)
    repo.remove("flows").write({"README.md": "moved"}).commit("everything gone")
    result = sync(settings, repo.root)
    assert not result.ok and result.plan is not None and "--allow-empty" in result.plan.refusals[0]
    assert sorted(rows(settings)) == ["etl/a", "etl/b"]
    assert sync(settings, repo.root, allow_empty=True).ok
    assert rows(settings) == {}


def test_prune_cap_refuses_large_deletes_unless_forced(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a", "b", "c", "d"])
    sync(settings, repo.root)
    repo.remove("flows/b", "flows/c", "flows/d").commit("drop three")
    result = sync(settings, repo.root)
    assert not result.ok and "prune cap of 50%" in result.plan.refusals[0]  # type: ignore[union-attr]
    assert len(rows(settings)) == 4
    assert sync(settings, repo.root, force_prune=True).ok
    assert sorted(rows(settings)) == ["etl/a"]


def test_drift_in_the_registry_is_reported_and_restored(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    sync(settings, repo.root)
    original = rows(settings)["etl/a"]
    record = json.loads(str(original["record"]))
    record["schedules"][0]["cron"] = "30 * * * *"
    with sqlite3.connect(settings.home / "registry.db") as db:
        db.execute(
            "UPDATE deployments SET record = ?, record_digest = 'edited' WHERE id = 'etl/a'",
            (json.dumps(record),),
        )
    plan = sync(settings, repo.root, dry_run=True).plan
    assert plan is not None
    (change,) = plan.of(Action.UPDATE)
    assert change.cause is Cause.DRIFT
    assert [str(d) for d in change.diff] == ["schedules[0].cron: '30 * * * *' -> '0 * * * *'"]
    assert sync(settings, repo.root).ok
    assert rows(settings)["etl/a"]["record"] == original["record"]


def test_uncommitted_changes_never_reach_the_registry(tmp_path: Path, settings: Settings) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write(deployment_files("a", cron="7 * * * *"))
    repo.write(deployment_files("uncommitted"))
    result = sync(settings, repo.root)
    assert result.ok and any("uncommitted" in w for w in result.warnings)
    assert sorted(rows(settings)) == ["etl/a"]
    assert json.loads(str(rows(settings)["etl/a"]["record"]))["schedules"][0]["cron"] == "0 * * * *"


def test_sub_folder_source(tmp_path: Path, settings: Settings) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(deployment_files("inside", folder="deploy/inside"))
    repo.write(deployment_files("outside", folder="elsewhere/outside")).commit()
    result = reconciler(settings, repo.root, path="deploy").reconcile_once(SyncOptions())
    assert result.ok and sorted(rows(settings)) == ["etl/inside"]
    assert rows(settings)["etl/inside"]["source_file"] == "inside/deployment.yaml"


def test_infrastructure_the_embedded_registry_cannot_run_is_refused_at_plan_time(
    tmp_path: Path, settings: Settings
) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    repo.write(
        {
            "flows/k8s/deployment.yaml": "name: k8s\nflow_name: etl\nentrypoint: flow.py:run\n"
            "infrastructure:\n  type: kubernetes-job\n  image: x\n",
            "flows/k8s/flow.py": "def run():\n    pass\n",
        }
    ).commit()
    result = sync(settings, repo.root, dry_run=True)
    assert [str(d) for d in result.diagnostics] == [
        "flows/k8s/deployment.yaml:5:3: infrastructure.type: infrastructure type 'kubernetes-job' "
        "cannot run on the embedded registry, which runs flows as local processes: use type: process, "
        "or sync to a Prefect server"
    ]
    assert not sync(settings, repo.root).ok and rows(settings) == {}
