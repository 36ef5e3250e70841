"""Following a run on another engine: a flow process ships its last log lines after its final
state, so ``RemoteRuns.follow`` waits for them (unit test of the service behind the
``EngineRuns`` port; the real server is in tests/prefect/test_prefect_worker.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from controller.services import engine_runs
from controller.services.engine_runs import RemoteRuns


@dataclass
class Run:
    id: str = "r"
    name: str = "run"
    state_name: str = "Running"
    finished: bool = False


@dataclass
class LateLines:
    """Finished from the first look; the lines reach the server one every fourth look, with
    empty looks between (a flow process ships its logs in batches)."""

    pending: list[str]
    lines: list[tuple[str, str, str]] = field(default_factory=list)
    looks: int = 0

    def create(self, deployment: str, parameters: Mapping[str, Any] | None, start_at: datetime | None) -> Run:
        raise NotImplementedError

    def get(self, run_id: str) -> Run:
        return Run(state_name="Completed", finished=True)

    def logs(self, run_id: str, after: int = 0) -> list[tuple[str, str, str]]:
        self.looks += 1
        if self.pending and self.looks % 4 == 0:
            self.lines.append(("t", "INFO", self.pending.pop(0)))
        return self.lines[after:]


def messages(runs: LateLines) -> list[str]:
    return [line[2] for line in RemoteRuns(runs, poll=0.01).follow("r")]  # type: ignore[arg-type]


def test_lines_that_arrive_after_the_final_state_are_given_up_to_the_engines_last_line() -> None:
    runs = LateLines(["starting", "working", "Finished in state Completed()", "after the end"])
    assert messages(runs)[-1] == "Finished in state Completed()"


def test_without_the_engines_last_line_following_ends_after_a_quiet_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_runs, "LAST_LINES_WAIT", 0.2)
    assert messages(LateLines(["one", "two"])) == ["one", "two"]


@dataclass
class EndsJustAfterItsLastLine:
    """The engine's last line is on the server one look before the run reads as finished."""

    looks: int = 0

    def create(self, deployment: str, parameters: Mapping[str, Any] | None, start_at: datetime | None) -> Run:
        raise NotImplementedError

    def get(self, run_id: str) -> Run:
        return Run(state_name="Completed", finished=self.looks >= 2)

    def logs(self, run_id: str, after: int = 0) -> list[tuple[str, str, str]]:
        self.looks += 1
        assert self.looks < 20, "still following long after the last line was given"
        lines = [("t", "INFO", "working"), ("t", "INFO", "Finished in state Completed()")]
        return lines[after:]


def test_a_last_line_given_before_the_run_read_as_finished_still_ends_the_follow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(engine_runs, "LAST_LINES_WAIT", 1000.0)
    runs = EndsJustAfterItsLastLine()
    assert [line[2] for line in RemoteRuns(runs, poll=0.01).follow("r")] == [  # type: ignore[arg-type]
        "working",
        "Finished in state Completed()",
    ]


def test_a_watch_says_why_nothing_takes_the_run_once_per_reason_and_ends_at_its_timeout() -> None:
    from controller.errors import TimedOut
    from controller.services.waiting import CHECK_EVERY, Waiting

    now, reasons, said = [0.0], ["no worker", "no worker", None, "paused"], []

    def unserved() -> str | None:
        return reasons.pop(0)

    waiting = Waiting("r", unserved, said.append, 4 * CHECK_EVERY + 1, "'cancel r'", clock=lambda: now[0])
    for _ in range(4):
        waiting.tick("Scheduled", waiting=True)
        waiting.tick("Scheduled", waiting=True)  # within CHECK_EVERY: not asked again
        now[0] += CHECK_EVERY
    assert said == ["no worker", "paused"] and reasons == []
    waiting.tick("Running", waiting=False)  # taken: nothing more to ask
    with pytest.raises(
        TimedOut, match=r"flow run r is still Running after --timeout 21 s; it goes on \('cancel r'"
    ):
        now[0] = 4 * CHECK_EVERY + 1
        waiting.tick("Running", waiting=False)
