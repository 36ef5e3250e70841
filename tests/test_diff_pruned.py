"""``diff_records`` hands deepdiff only the top-level fields that differ: what it finds must be
exactly what deepdiff finds in the whole records, type changes (``1``, ``1.0``, ``true``) too."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.diff import deep_differences, diff_records

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([1.0, 0.0, 2.5]),
    st.sampled_from(["a", "b", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3),
    max_leaves=8,
)
records = st.dictionaries(
    st.sampled_from(["name", "tags", "schedules", "parameters", "paused"]), values, max_size=5
)


@settings(max_examples=300, deadline=None)
@given(records, records)
def test_pruned_differences_are_deepdiffs_own(old: dict[str, Any], new: dict[str, Any]) -> None:
    assert diff_records(old, new) == deep_differences(old, new)


@given(records)
def test_a_record_has_no_differences_with_itself(record: dict[str, Any]) -> None:
    assert diff_records(record, record) == ()


def test_a_type_change_alone_is_a_difference() -> None:
    assert [str(d) for d in diff_records({"paused": 1}, {"paused": True})] == ["paused: 1 -> True"]
