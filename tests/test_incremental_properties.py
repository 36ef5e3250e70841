"""An incremental pass plans exactly what a full pass plans, over random commit sequences.

Each step commits a random edit to a real git repository, then, against the same real SQLite
registry, compares a full pass (the reference) with the incremental pass the reconciler
makes by default: plan changes, conflicts, refusals, and every desired record, version and
digest. The incremental pass then applies, so the next step starts from what it wrote.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.app import App
from controller.core.plan import Action, Plan, make_plan
from controller.engine.desired import DesiredState, DesiredStateBuilder
from controller.engine.reconciler import Reconciler, SyncOptions, _policy
from controller.ports import SourceSpec
from controller.settings import Settings
from tests.gitrepo import GitRepo, deployment_files

pytestmark = pytest.mark.stress

START = {
    **deployment_files("alpha"),
    **deployment_files("beta"),
    **deployment_files("gamma"),
    **deployment_files("team", folder="team"),
    **deployment_files("nested", folder="team/nested"),
    "team/.prefectignore": "*.tmp\n",
    "team/notes.tmp": "first\n",
    "team/nested/data.txt": "1\n",
}

OPS = st.lists(
    st.tuples(
        st.sampled_from(
            ["add", "change", "move", "delete", "rename", "ignored", "prefectignore", "settings", "duplicate"]
        ),
        st.integers(0, 1000),
    ),
    min_size=1,
    max_size=6,
)


def folders(repo: GitRepo) -> list[str]:
    listed = repo.git("ls-files", "*deployment.yaml").splitlines()
    return sorted(path.rsplit("/", 1)[0] for path in listed)


def edit(repo: GitRepo, op: str, n: int) -> None:
    present = folders(repo)
    pick = present[n % len(present)] if present else None
    if op == "add" or pick is None:
        repo.write(deployment_files(f"new{n}", folder=f"flows/new{n}"))
    elif op == "change":
        repo.write({f"{pick}/flow.py": f"def run(n={n}):\n    return n\n"})
    elif op == "move" and not pick.startswith("team"):
        repo.git("mv", pick, f"{pick}-moved{n}")
    elif op == "delete":
        repo.remove(pick)
    elif op == "rename" and "team" in present:
        repo.git("mv", "team", f"team{n}")
        repo.git("mv", f"team{n}", "team")  # back in a second commit keeps the layout reusable
        repo.commit("rename away")
        repo.git("mv", "team", f"squad{n}")
    elif op == "ignored":
        repo.write({f"{pick}/notes.tmp": f"{n}\n"})
    elif op == "prefectignore":
        repo.write({f"{pick}/.prefectignore": "*.tmp\n" + ("data.txt\n" if n % 2 else "")})
    elif op == "settings":
        repo.write({".deployctl.yaml": f"defaults:\n  tags: [t{n % 3}]\n"})
    elif op == "duplicate":
        name = pick.rsplit("/", 1)[-1]
        repo.write(deployment_files(name, folder=f"dup/{name}{n}"))
    else:
        repo.write({f"{pick}/flow.py": f"def run(n={n + 1}):\n    return n\n"})


def full_pass(reconciler: Reconciler, owner: str) -> tuple[DesiredState, Plan]:
    snapshot = reconciler.source.snapshot()
    state = reconciler.registry.read_state(owner)
    builder = DesiredStateBuilder(infrastructure=reconciler.builder.infrastructure)
    desired = builder.build(snapshot, state.known, reconciler.env)
    policy = _policy(owner, desired, SyncOptions())
    return desired, make_plan(desired.specs, state.actual, state.inventory, policy, desired.digests)


def same_plan(incremental: Plan, full: Plan) -> None:
    def shape(plan: Plan, noops: bool) -> list[tuple[object, ...]]:
        return [
            (c.action, c.id, c.cause, c.diff, c.desired_digest)
            for c in plan.changes
            if noops or c.action is not Action.NOOP
        ]

    assert shape(incremental, noops=False) == shape(full, noops=False)
    assert set(shape(incremental, noops=True)) <= set(shape(full, noops=True))
    assert incremental.counts == full.counts  # the NOOPs it did not list, it counted
    assert (incremental.conflicts, incremental.frozen, incremental.refusals, incremental.owned_count) == (
        full.conflicts,
        full.frozen,
        full.refusals,
        full.owned_count,
    )
    theirs = {c.id: c for c in full.changes}
    for mine in incremental.changes:
        if mine.action is not Action.NOOP:
            assert mine.desired == theirs[mine.id].desired


def same_desired(reconciler: Reconciler, owner: str, full: DesiredState) -> bool:
    """Compare the reconciler's own desired state with the full one; True if it was incremental."""
    snapshot = reconciler.source.snapshot()
    status = reconciler.registry.read_status(owner)
    desired, part, owned = reconciler._desired(snapshot, owner, status, SyncOptions())
    whole = reconciler.registry.read_state(owner)
    assert desired.load.diagnostics == full.load.diagnostics
    for identity, spec in desired.specs.items():
        assert spec == full.specs[identity]
        assert desired.commits[identity] == full.commits[identity]
        assert desired.digests[identity] == full.digests[identity]
        assert desired.input_digests[identity] == full.input_digests[identity]
    if owned is None:
        assert desired.specs.keys() == full.specs.keys()
        return False
    assert owned == len(whole.owned(owner))
    unchanged = {i: a for i, a in whole.owned(owner).items() if i not in part.actual}
    assert desired.specs.keys() | unchanged.keys() == full.specs.keys()
    for identity, actual in unchanged.items():
        assert actual.record_digest == full.digests[identity]
        assert actual.version == full.specs[identity].version
    return True


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_incremental_pass_equals_full_pass(tmp_path_factory: object, ops: list[tuple[str, int]]) -> None:
    root: Path = tmp_path_factory.mktemp("incremental")  # type: ignore[attr-defined]
    repo = GitRepo(root / "repo")
    repo.write(START).commit("start")
    app = App(Settings.resolve(home=str(root / "state"), env={}))
    reconciler = app.reconciler(SourceSpec(str(repo.root)))
    first = reconciler.reconcile_once(SyncOptions())
    assert first.ok, first.error
    for op, n in ops:
        edit(repo, op, n)
        repo.commit(f"{op} {n}")
        full, full_plan = full_pass(reconciler, first.owner)
        same_desired(reconciler, first.owner, full)
        result = reconciler.reconcile_once(SyncOptions())
        if result.plan is not None and full.load.ok:
            same_plan(result.plan, full_plan)
