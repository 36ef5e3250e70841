"""One change, one write (embedded registry): in a prefect.yaml of many deployments, editing one
entry moves one version and writes one row; inserting an entry creates one and updates none;
``code:`` narrows a deployment's code to its own folder, which the runner then runs from."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from controller.app import App
from controller.core.plan import Action
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.ports import SourceSpec
from controller.runtime.ad_hoc import create_run
from controller.settings import Settings
from tests.engine_helpers import NOW, finish, make_engine
from tests.gitrepo import GitRepo
from tests.many_deployments import FLOW, entry, project

N = 100


def hundred(changed: int | None = None) -> list[str]:
    return [entry(f"d-{i}", 1000 + i if i == changed else i) for i in range(N)]


def sync(tmp_path: Path, repo: GitRepo) -> SyncResult:
    """One pass by a fresh reconciler, as a CI job runs it."""
    settings = Settings.resolve(home=str(tmp_path / "state"), env={})
    reconciler = App(settings).reconciler(SourceSpec(str(repo.root)))
    result = reconciler.reconcile_once(SyncOptions())
    assert result.ok, (result.error, [str(d) for d in result.diagnostics])
    return result


def rows(tmp_path: Path) -> dict[str, tuple[object, ...]]:
    """Every deployment row as stored, to see which ones a pass wrote."""
    with sqlite3.connect(tmp_path / "state" / "registry.db") as db:
        return {row[0]: row for row in db.execute("SELECT * FROM deployments")}


def written(before: dict[str, tuple[object, ...]], after: dict[str, tuple[object, ...]]) -> set[str]:
    return {i for i in after if before.get(i) != after[i]}


def counts(result: SyncResult) -> dict[str, int]:
    assert result.plan is not None
    return result.plan.counts


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.write({"prefect.yaml": project(hundred()), "flow.py": FLOW.format(name="many")}).commit("hundred")
    return repo


def test_editing_one_entry_of_a_shared_prefect_yaml_writes_one_deployment(
    tmp_path: Path, repo: GitRepo
) -> None:
    first = sync(tmp_path, repo)
    assert counts(first)["create"] == N
    before = rows(tmp_path)
    old = {c.id: c.desired.version for c in first.plan.changes if c.desired}  # type: ignore[union-attr]
    repo.write({"prefect.yaml": project(hundred(changed=42))})
    commit = repo.commit("d-42 takes another n")
    result = sync(tmp_path, repo)
    assert counts(result) == {"create": 0, "update": 1, "delete": 0, "noop": N - 1}
    (update,) = result.plan.of(Action.UPDATE)  # type: ignore[union-attr]
    assert update.id == "many/d-42"
    assert {d.path for d in update.diff} == {"parameters.n", "version"}
    assert update.desired is not None and update.desired.version == commit[:12]
    assert written(before, rows(tmp_path)) == {"many/d-42"}
    kept = {c.id: c.desired.version for c in result.plan.changes if c.desired and c.id != "many/d-42"}
    assert kept == {i: v for i, v in old.items() if i in kept}, "no sibling's version moved"


def test_inserting_an_entry_at_the_top_creates_one_and_updates_none(tmp_path: Path, repo: GitRepo) -> None:
    sync(tmp_path, repo)
    before = rows(tmp_path)
    repo.write({"prefect.yaml": project([entry("new", 7), *hundred()])})
    repo.commit("a new deployment, first in the list")
    result = sync(tmp_path, repo)
    assert counts(result) == {"create": 1, "update": 0, "delete": 0, "noop": N}
    assert written(before, rows(tmp_path)) == {"many/new"}


def test_a_change_to_the_project_keys_reaching_every_entry_updates_them_all(
    tmp_path: Path, repo: GitRepo
) -> None:
    """The declaration of an entry includes the defaults that reach it: they still count."""
    sync(tmp_path, repo)
    repo.write({".deployctl.yaml": "defaults:\n  tags: [everyone]\n"}).commit("a tag for all")
    assert counts(sync(tmp_path, repo))["update"] == N


CODE_FILES = {
    "flows/a/flow.py": "from helper import greeting\n\n\ndef run(n: int = 1) -> None:\n"
    "    print(greeting(), n)\n",
    "flows/a/helper.py": "def greeting() -> str:\n    return 'hello from a'\n",
    "flows/b/flow.py": "def run(n: int = 1) -> None:\n    print('b', n)\n",
}


def coded_project() -> str:
    return project(
        [
            entry("a1", 1, "flows/a/flow.py:run", code="flows/a"),
            entry("a2", 2, "flows/a/flow.py:run", code="flows/a/"),
            entry("b1", 3, "flows/b/flow.py:run", code="flows/b"),
            entry("whole", 4, "flows/b/flow.py:run"),
        ]
    )


def test_code_narrows_a_deployment_to_its_own_folder(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write({"prefect.yaml": coded_project(), **CODE_FILES}).commit("four")
    first = sync(tmp_path, repo)
    specs = {c.id: c.desired for c in first.plan.changes if c.desired}  # type: ignore[union-attr]
    assert (specs["run/a1"].code_dir, specs["run/a1"].entrypoint) == ("flows/a", "flow.py:run")  # type: ignore[union-attr]
    assert (specs["run/whole"].code_dir, specs["run/whole"].entrypoint) == (".", "flows/b/flow.py:run")  # type: ignore[union-attr]
    repo.write({"flows/a/helper.py": "def greeting() -> str:\n    return 'hi from a'\n"}).commit("a changes")
    result = sync(tmp_path, repo)
    changed = {c.id for c in result.plan.changes if c.action is Action.UPDATE}  # type: ignore[union-attr]
    assert changed == {"run/a1", "run/a2", "run/whole"}, "b1's code is flows/b alone; whole's is everything"
    repo.write({"flows/b/flow.py": CODE_FILES["flows/b/flow.py"] + "# b changes\n"}).commit("b changes")
    result = sync(tmp_path, repo)
    assert {c.id for c in result.plan.changes if c.action is Action.UPDATE} == {"run/b1", "run/whole"}  # type: ignore[union-attr]


def test_a_deployment_with_a_code_folder_runs_from_it(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, {"prefect.yaml": coded_project(), **CODE_FILES})
    runner = engine.runner()
    run = create_run(engine.store, "run/a1", {"n": 5}, now=NOW)
    assert runner.tick(NOW) == [run.id]
    finish(runner, run.id, NOW + timedelta(seconds=1))
    assert engine.run(run.id).state_name == "Completed"
    assert [line for *_, line in engine.store.logs(run.id)] == ["hello from a 5"]


@pytest.mark.parametrize(
    ("code", "entrypoint", "field", "says"),
    [
        ("../elsewhere", "flows/a/flow.py:run", "deployments[1].code", "outside this project's folder"),
        ("flows/b", "flows/a/flow.py:run", "deployments[1].code", "is not inside this deployment's code"),
    ],
    ids=["outside-the-project", "entrypoint-outside"],
)
def test_a_bad_code_folder_is_refused_at_its_line(
    tmp_path: Path, code: str, entrypoint: str, field: str, says: str
) -> None:
    repo = GitRepo(tmp_path / "repo")
    entries = [entry("fine", 1, "flows/b/flow.py:run", code="flows/b"), entry("bad", 2, entrypoint, code)]
    repo.write({f"project/{p}": t for p, t in CODE_FILES.items()})
    repo.write({"project/prefect.yaml": project(entries)})
    repo.commit("bad code folder")
    command = str(Path(sys.executable).with_name("deployctl"))
    env = {"HOME": str(tmp_path / "home"), "PATH": os.environ.get("PATH", "")}
    done = subprocess.run(
        [command, "validate", "."], capture_output=True, text=True, timeout=120, cwd=repo.root, env=env
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = (done.stdout + done.stderr).splitlines()
    source = project(entries).splitlines()
    line = max(n for n, text in enumerate(source, 1) if text == f"  code: {code}")  # the second entry's
    place = f"project/prefect.yaml:{line}"
    assert any(place in text and field in text and says in text for text in lines), lines
    assert "Traceback" not in done.stdout + done.stderr
