"""Reactive triggers and parameter templates, pure: Prefect's bucket rules, event by event.

Each case is an event sequence and the firings Prefect's server gives for it
(``prefect.server.events.triggers``: eager Reactive firing, the rest of the window waited out,
``after`` opening a bucket, ``for_each`` keys, an event in both ``after`` and ``expect``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controller.core.event_templates import TemplateError, check_templates, render_parameters
from controller.core.events import Event, stable_id
from controller.core.triggers import (
    LOOKBACK,
    Bucket,
    DeclaredTriggers,
    Trigger,
    TriggerIndex,
    active_triggers,
    expire,
    react,
    trigger_kind,
)

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def event(name: str, seconds: float = 0, resource: str = "r1", **labels: str) -> Event:
    return Event(
        stable_id(name, str(seconds), resource),
        name,
        (T0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds"),
        {"prefect.resource.id": resource, **labels},
        (
            {
                "prefect.resource.id": "prefect.flow.f",
                "prefect.resource.role": "flow",
                "prefect.resource.name": "etl",
            },
        ),
        {"rows": 3},
    )


def firings(trigger: Trigger, events: list[Event]) -> list[str]:
    """The ids of the events on which ``trigger`` fires, buckets kept as the store keeps them."""
    buckets: dict[str, Bucket | None] = {}
    fired = []
    for e in events:
        if not trigger.covers(e):
            continue
        key = trigger.bucketing_key(e)
        buckets[key], fires = react(trigger, buckets.get(key), e)
        if fires:
            fired.append(e.id)
    return fired


def trigger(**fields: Any) -> Trigger:
    return Trigger(id="d:t", deployment_id="d", name="t", **fields)


def test_an_immediate_trigger_fires_on_every_matching_event() -> None:
    t = trigger(expect=("x.done",), match={"prefect.resource.id": "r*"})
    events = [
        event("x.done", 0),
        event("x.started", 1),
        event("x.done", 2),
        event("x.done", 3, resource="s1"),
    ]
    assert firings(t, events) == [events[0].id, events[2].id]


def test_match_related_needs_a_related_resource_with_every_label() -> None:
    flow = {"prefect.resource.role": "flow", "prefect.resource.name": "etl"}
    assert firings(trigger(match_related=(flow,)), [event("x")]) != []
    other = {"prefect.resource.role": "flow", "prefect.resource.name": "other"}
    assert firings(trigger(match_related=(other,)), [event("x")]) == []
    assert firings(trigger(match_related=(flow, other)), [event("x")]) == [], "each spec of a list must match"


def test_expect_is_a_prefix_pattern_and_empty_expect_takes_any_event() -> None:
    assert len(firings(trigger(expect=("prefect.flow-run.*",)), [event("prefect.flow-run.Failed")])) == 1
    assert firings(trigger(expect=("prefect.flow-run.*",)), [event("prefect.task-run.Failed")]) == []
    assert len(firings(trigger(), [event("anything"), event("else", 1)])) == 2


def test_threshold_within_fires_once_then_waits_out_its_window() -> None:
    t = trigger(expect=("x",), threshold=3, within=timedelta(seconds=60))
    events = [event("x", s) for s in (0, 10, 20, 30, 59, 65, 70, 80)]
    # fires on the third (20 s); the window of the first event ends at 60 s, the next runs
    # from 60 to 120 s and fills at the third event in it (80 s)
    assert firings(t, events) == [events[2].id, events[7].id]


def test_threshold_not_reached_within_the_window_does_not_fire() -> None:
    t = trigger(expect=("x",), threshold=2, within=timedelta(seconds=30))
    assert firings(t, [event("x", 0), event("x", 100), event("x", 200)]) == []


def test_a_threshold_above_one_without_within_never_fires_as_in_prefect() -> None:
    assert firings(trigger(expect=("x",), threshold=2), [event("x", s) for s in range(5)]) == []


def test_after_opens_a_window_and_a_firing_closes_it() -> None:
    t = trigger(after=("etl.started",), expect=("etl.done",), within=timedelta(seconds=60))
    events = [
        event("etl.done", 0),  # no after yet: ignored
        event("etl.started", 10),
        event("etl.done", 20),  # fires
        event("etl.done", 30),  # the window was closed by the firing
        event("etl.started", 100),
        event("etl.done", 200),  # its window ended at 160 s
    ]
    assert firings(t, events) == [events[2].id]


def test_for_each_keeps_one_bucket_per_label_value() -> None:
    t = trigger(expect=("x",), for_each=("prefect.resource.id",), threshold=2, within=timedelta(seconds=60))
    events = [
        event("x", 0, "a"),
        event("x", 1, "b"),
        event("x", 2, "a"),
        event("x", 3, "b"),
        event("x", 4, "a"),
    ]
    assert firings(t, events) == [events[2].id, events[3].id]


def test_an_event_in_after_and_expect_does_not_count_itself() -> None:
    t = trigger(after=("hb",), expect=("hb",), threshold=1, within=timedelta(seconds=60))
    events = [event("hb", 0), event("hb", 10)]
    assert firings(t, events) == [events[1].id]


def test_only_enabled_event_triggers_are_run_paused_deployments_too() -> None:
    def record(name: str, **inner: Any) -> dict[str, Any]:
        return {"name": name, "enabled": inner.pop("enabled", True), "trigger": {"type": "event", **inner}}

    declared = [
        DeclaredTriggers("f/a", "f", "s", "default", {}, False, (
            record("on", expect=["x"]), record("off", expect=["x"], enabled=False),
            record("late", posture="Proactive", within=60.0),
            {"name": "both", "trigger": {"type": "compound"}},
        )),
        DeclaredTriggers("f/b", "f", "s", "default", {}, True, (record("paused", expect=["x"]),)),
    ]  # fmt: skip
    assert [t.id for _, t in active_triggers(declared)] == ["f/a:on", "f/a:late", "f/b:paused"]
    assert [trigger_kind(r) for r in declared[0].triggers] == [
        "reactive",
        "reactive",
        "proactive",
        "compound",
    ]


def test_parameters_render_as_prefect_renders_them() -> None:
    e = event("etl.done", 0, "prefect.flow-run.1", **{"prefect.resource.name": "run-1"})
    rendered = render_parameters(
        {
            "whole": "{{ event }}",
            "id": "{{ event.resource.id }}",
            "name": "{{ event.resource.name }}",
            "rows": "{{ event.payload.rows }}",
            "text": "rows: {{ event.payload.rows }}",
            "flow": "{{ event.related[0].name }}",
            "missing": "absent: {{ event.payload.nothing.deeper }}",
            "nested": {"list": ["{{ event.event }}", 4]},
            "plain": "no template",
        },
        e,
    )
    assert rendered["whole"] == e.to_json()
    assert rendered["id"] == "prefect.flow-run.1" and rendered["name"] == "run-1"
    assert rendered["rows"] == 3 and rendered["text"] == "rows: 3", "one expression keeps its type"
    assert rendered["flow"] == "etl"
    assert rendered["missing"] == "absent: ", "ChainableUndefined, as Prefect: empty inside text"
    assert rendered["nested"] == {"list": ["etl.done", 4]} and rendered["plain"] == "no template"


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.payload.nothing }}",  # one expression, undefined: not JSON, as in Prefect
        "{{ event.__class__.__mro__ }}",  # the sandbox hides what is unsafe
        "{{ ''.__class__.__subclasses__() }}",
        "{{ event.payload.rows + 'a' }}",
        "{% for i in range(1000) %}{{ i }}{% endfor %}",
    ],
)
def test_the_sandbox_refuses_what_prefect_refuses(template: str) -> None:
    with pytest.raises(TemplateError):
        render_parameters({"x": template}, event("x"))


def test_templates_that_do_not_parse_are_found_with_their_path() -> None:
    assert list(check_templates({"a": {"b": ["{{ event.id }}", "{% if %}"]}})) == [
        (
            ("a", "b", 1),
            "template '{% if %}' does not parse: Expected an expression, got 'end of statement block' "
            "(line 1)",
        )
    ]


def test_the_index_finds_what_checking_every_trigger_finds() -> None:
    declared = DeclaredTriggers("f/a", "f", "s", "default", {}, False, ())
    triggers = [
        trigger(match={"prefect.resource.id": "r1"}),
        trigger(match={"prefect.resource.id": ["r1", "r2", "r1"]}),
        trigger(match={"prefect.resource.id": "r*"}),
        trigger(match={"prefect.resource.id": "!r1"}),
        trigger(match={"prefect.resource.name": "x"}),
        trigger(),
        trigger(match={"prefect.resource.id": "s1"}, expect=("nothing",)),
    ]
    pairs = [(declared, t) for t in triggers]
    index = TriggerIndex(pairs)
    for e in [event("x", resource="r1"), event("x", resource="r2", **{"prefect.resource.name": "x"}),
              event("x", resource="s1"), event("x", resource="t")]:  # fmt: skip
        found = sorted(map(id, index.covering(e)))
        assert found == sorted(id(p) for p in pairs if p[1].covers(e)), e.resource_id
        assert len(found) == len(set(found)), "a trigger listed under two of its values is checked once"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def window(start: float, end: float, count: int = 0) -> Bucket:
    return Bucket(
        at(start).isoformat(timespec="microseconds"), at(end).isoformat(timespec="microseconds"), count
    )


def test_a_proactive_trigger_fires_when_its_window_passes_without_the_event() -> None:
    t = trigger(posture="Proactive", expect=("heartbeat",), within=timedelta(seconds=60))
    assert expire(t, window(0, 60), at(30)) == (window(0, 60), None), "the window is still open"
    kept, fired = expire(t, window(0, 60), at(61))
    assert fired == window(0, 60) and kept == window(61, 121), "fired, and the next window opens"
    kept, fired = expire(t, window(0, 60, count=1), at(61))
    assert fired is None and kept == window(61, 121), "the event came: no firing"


def test_a_proactive_trigger_counts_events_in_its_window_and_fires_on_a_late_one() -> None:
    t = trigger(posture="Proactive", expect=("heartbeat",), within=timedelta(seconds=60), threshold=2)
    kept, fired = react(t, window(0, 60), event("heartbeat", 10))
    assert fired is None and kept is not None and kept.count == 1
    late = event("heartbeat", 90)
    kept, fired = react(t, kept, late)
    assert fired is not None and fired.count == 1, "one of two in the window: it fires on the late one"
    assert kept == window(90, 150, count=1), "which counts in the next window"
    first = event("heartbeat", 500)
    kept, fired = react(t, None, first)
    assert fired is None and kept is not None
    assert (kept.start, kept.end) == (
        (at(500) - LOOKBACK).isoformat(timespec="microseconds"),
        window(0, 560).end,
    )


def test_a_proactive_trigger_with_after_fires_once_when_the_follow_up_does_not_come() -> None:
    t = trigger(
        posture="Proactive", after=("job.started",), expect=("job.finished",), within=timedelta(seconds=60)
    )
    kept, fired = react(t, None, event("job.started", 0))
    assert fired is None and kept is not None and kept.count == 0
    assert expire(t, kept, at(61)) == (None, kept), "fired, and closed until the next start"
    kept, _ = react(t, None, event("job.started", 100))
    assert kept is not None
    kept, fired = react(t, kept, event("job.finished", 120))
    assert fired is None and kept is not None and kept.count == 1
    assert expire(t, kept, at(161)) == (None, None), "it finished in time: closed without firing"
