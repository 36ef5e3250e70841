"""The controller loop and a held owner, and what started each pass, on the loop's own fakes
(``test_controller_loop.Harness``: a fake clock, source, reconciler and owner control)."""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.history import Hold, Trigger
from tests.test_controller_loop import INTERVAL, Harness


@dataclass
class Holds:
    hold: Hold | None = None

    def read_hold(self, owner: str) -> Hold | None:
        return self.hold


def held_harness() -> tuple[Harness, Holds]:
    h, holds = Harness(), Holds()
    h.loop.holds = holds
    return h, holds


def test_each_pass_says_what_started_it() -> None:
    h, _ = held_harness()
    h.loop.step()
    h.source.head = "b" * 40
    h.loop.request_refresh()
    h.loop.step()
    h.run_for(301)  # a drift pass
    assert [c.trigger for c in h.reconciler.calls] == [Trigger.POLL, Trigger.WEBHOOK, Trigger.DRIFT]


def test_a_held_owner_applies_nothing_new_restores_the_held_revision_and_follows_after_release() -> None:
    h, holds = held_harness()
    held = h.source.head
    h.loop.step()  # applied
    holds.hold = Hold("o", held, "2026-12-05T12:00:00+00:00")
    h.source.head = "b" * 40
    h.run_for(INTERVAL * 3)
    assert h.reconciler.calls[1:] == []  # no pass of the new head
    status = h.loop.describe()
    assert status["held"] == {"revision": held, "since": "2026-12-05T12:00:00+00:00"}
    assert f"HEAD is {'b' * 12}" in status["held_message"] and status["applied_revision"] == held
    assert h.metric("deployctl_held") == 1

    h.run_for(300)  # drift passes restore the held revision, from the commit at hand
    drift = h.reconciler.calls[1:]
    assert drift and {(c.full, c.revision, c.trigger) for c in drift} == {(True, held, Trigger.DRIFT)}

    holds.hold = None
    h.run_for(INTERVAL * 1.1)
    assert h.reconciler.calls[-1].revision is None and not h.reconciler.calls[-1].full
    assert h.loop.state.done_revision == "b" * 40 and h.metric("deployctl_held") == 0
    assert h.loop.describe()["held"] is None


def test_a_controller_started_while_held_is_ready() -> None:
    h, holds = held_harness()
    holds.hold = Hold("o", "c" * 40, "2026-12-05T12:00:00+00:00")
    h.loop.step()
    assert h.loop.state.ready and h.loop.state.done_revision == "c" * 40
    # what it does restores the held revision (a drift pass), never the head
    assert [(c.full, c.revision) for c in h.reconciler.calls] == [(True, "c" * 40)]
