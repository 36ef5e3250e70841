"""The pure core: records round-trip every field, and make_plan's safety rules, with plain values."""

from __future__ import annotations

import dataclasses

from controller.core.plan import Action, Cause, PlanPolicy, make_plan
from controller.core.records import canonical_json, from_record, record_digest, to_record
from controller.core.spec import DeploymentId, DeploymentSpec, ScheduleKind, ScheduleSpec, SourceRef
from controller.core.state import ActualDeployment

OWNER = "team"


def spec(name: str, cron: str = "0 * * * *", file: str | None = None) -> DeploymentSpec:
    return DeploymentSpec(
        "etl",
        name,
        "flow.py:run",
        f"flows/{name}",
        SourceRef(file or f"flows/{name}/d.yaml"),
        schedules=(ScheduleSpec(ScheduleKind.CRON, cron=cron),),
        version="abc",
    )


def stored(
    s: DeploymentSpec, owner: str | None = OWNER, applied: DeploymentSpec | None = None
) -> ActualDeployment:
    record = to_record(s)
    applied_digest = record_digest(to_record(applied or s))
    return ActualDeployment(
        s.id, canonical_json(record), record_digest(record), applied_digest, owner, s.source.file, s.version
    )


def plan_for(desired: list[DeploymentSpec], actual: list[ActualDeployment], **policy: object):  # type: ignore[no-untyped-def]
    inventory = frozenset(a.id for a in actual if a.owner == OWNER)
    return make_plan(
        {s.id: s for s in desired}, {a.id: a for a in actual}, inventory, PlanPolicy(OWNER, **policy)
    )  # type: ignore[arg-type]


def test_records_cover_every_field_and_round_trip() -> None:
    full = dataclasses.replace(
        spec("a"),
        tags=("x",),
        triggers=({"enabled": True},),
        code_digest="d",
        source=SourceRef("p.yaml", ("deployments", 1)),
        declared_version="1.2",
        collision_strategy="CANCEL_NEW",
        code_delivery={"code": "storage"},
        code_links=True,
    )
    record = to_record(full)
    assert set(record) == {f.name for f in dataclasses.fields(DeploymentSpec)}
    assert set(record["schedules"][0]) == {f.name for f in dataclasses.fields(ScheduleSpec)}
    # the entry's position in its list is where it is written, not what it declares
    assert record["source"] == {"file": "p.yaml", "path": ["deployments"]}
    assert from_record(record) == dataclasses.replace(full, source=SourceRef("p.yaml", ("deployments",)))
    moved = dataclasses.replace(full, source=SourceRef("p.yaml", ("deployments", 7)))
    assert record_digest(to_record(moved)) == record_digest(record)
    # fields added later stay out of records while unset, so older records keep their digests
    plain = to_record(spec("a"))
    assert not {"declared_version", "collision_strategy", "code_delivery", "code_links"} & plain.keys()
    assert from_record(plain) == spec("a")


def test_create_update_noop_and_causes() -> None:
    a, b, c = spec("a"), spec("b"), spec("c")
    changed_b = spec("b", cron="5 * * * *")
    drifted_c = stored(spec("c", cron="9 * * * *"), applied=c)
    plan = plan_for([a, changed_b, c], [stored(b), drifted_c])
    assert [(ch.action, ch.id, ch.cause) for ch in plan.changes] == [
        (Action.CREATE, "etl/a", Cause.GIT),
        (Action.UPDATE, "etl/b", Cause.GIT),
        (Action.UPDATE, "etl/c", Cause.DRIFT),
    ]
    assert [str(d) for d in plan.changes[1].diff] == ["schedules[0].cron: '0 * * * *' -> '5 * * * *'"]
    assert not plan_for([a], [stored(a)]).has_changes


def test_only_owned_and_marked_deployments_are_deleted() -> None:
    keep = [spec(n) for n in "abcd"]
    actual = [stored(s) for s in keep] + [stored(spec("foreign"), owner="other"), stored(spec("gone"))]
    plan = plan_for(keep, actual)
    assert [ch.id for ch in plan.of(Action.DELETE)] == ["etl/gone"]
    unmarked = make_plan(
        {},
        {DeploymentId("etl/x"): stored(spec("x"), owner=None)},
        frozenset({DeploymentId("etl/x")}),
        PlanPolicy(OWNER, allow_empty=True),
    )
    assert unmarked.of(Action.DELETE) == ()


def test_conflict_with_someone_elses_deployment() -> None:
    plan = plan_for([spec("a")], [stored(spec("a", cron="1 * * * *"), owner=None)])
    assert plan.conflicts == ("etl/a",) and plan.changes == ()


def test_prune_to_empty_and_prune_cap() -> None:
    owned = [stored(spec(n)) for n in "abcd"]
    assert "--allow-empty" in plan_for([], owned).refusals[0]
    assert plan_for([], owned, allow_empty=True).refusals == ()
    three_of_four = plan_for([spec("a")], owned)
    assert "prune cap of 50%" in three_of_four.refusals[0]
    assert plan_for([spec("a")], owned, force_prune=True).refusals == ()
    assert plan_for([spec("a"), spec("b")], owned).refusals == ()
    assert plan_for([spec("a")], owned, max_prune_fraction=0.8).refusals == ()


def test_frozen_files_keep_their_deployments() -> None:
    owned = [stored(spec("a")), stored(spec("b"))]
    plan = plan_for([spec("a")], owned, frozen_files=frozenset({"flows/b/d.yaml"}))
    assert plan.frozen == ("etl/b",) and plan.of(Action.DELETE) == ()


def test_prune_disabled_deletes_nothing() -> None:
    plan = plan_for([spec("a")], [stored(spec("a")), stored(spec("b"))], prune=False)
    assert plan.of(Action.DELETE) == () and not plan.refused


def test_a_plan_restricted_to_some_deployments_writes_and_prunes_nothing_else() -> None:
    from controller.core.plan import restrict_plan

    owned = [stored(spec(n)) for n in "abcd"]
    full = plan_for([spec("a", cron="5 * * * *"), spec("e")], owned + [stored(spec("x"), owner=None)])
    assert full.refusals  # three of four owned deleted: over the prune cap
    only = restrict_plan(full, frozenset({DeploymentId("etl/a"), DeploymentId("etl/e")}))
    assert [(c.action, c.id) for c in only.changes] == [(Action.UPDATE, "etl/a"), (Action.CREATE, "etl/e")]
    assert only.refusals == () and only.conflicts == () and only.frozen == ()
    conflicting = plan_for([spec("x", cron="5 * * * *")], [stored(spec("x"), owner=None)])
    assert restrict_plan(conflicting, frozenset({DeploymentId("etl/x")})).conflicts == ("etl/x",)
