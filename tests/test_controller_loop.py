"""The controller loop's decisions, tick by tick, with an injected clock and fakes of its own ports."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from controller.core.plan import Action, Cause, Change, Plan
from controller.core.spec import DeploymentId
from controller.core.state import Reason
from controller.core.status import ready, stalled
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.errors import RegistryUnavailable, SourceUnavailable, StalledError
from controller.runtime.controlling.loop import ControllerLoop, LoopConfig, LoopState
from controller.runtime.controlling.metrics import ControllerMetrics
from controller.runtime.controlling.policy import Outcome, Timing, deployment_statuses

INTERVAL = 60.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Source:
    head: str = "a" * 40
    down: bool = False
    checks: int = 0

    def remote_head(self) -> str:
        self.checks += 1
        if self.down:
            raise SourceUnavailable("cannot reach the git server")
        return self.head


@dataclass
class Reconciler:
    source: Source
    verdicts: dict[str, str] = field(default_factory=dict)
    """commit -> "ok" | "invalid" | "apply-failed" (a retryable error) | "misconfigured" (a stalled one)"""
    calls: list[SyncOptions] = field(default_factory=list)
    raises: Exception | None = None
    source_failures: list[str] = field(default_factory=list)

    def record_source_failure(self, owner: str, message: str) -> str:
        self.source_failures.append(message)
        return message

    def reconcile_once(self, options: SyncOptions, progress: object = None) -> SyncResult:
        self.calls.append(options)
        if self.raises is not None:
            raise self.raises
        head = options.revision or self.source.head
        verdict = self.verdicts.get(head, "ok")
        if verdict == "invalid":
            return SyncResult(
                "o", head, "main", error="2 problems", conditions=stalled(Reason.VALIDATION_FAILED, "x")
            )
        if verdict in ("apply-failed", "misconfigured"):
            retryable = verdict == "apply-failed"  # as the reconciler takes it from the error raised
            return SyncResult(
                "o",
                head,
                "main",
                error=verdict,
                conditions=stalled(Reason.APPLY_FAILED, verdict),
                retryable=retryable,
            )
        plan = Plan((Change(Action.UPDATE, DeploymentId("f/d"), Cause.DRIFT),)) if options.full else Plan(())
        return SyncResult("o", head, "main", plan=plan, applied=not options.dry_run, conditions=ready())


@dataclass
class Control:
    active: bool = True
    is_suspended: bool = False

    def is_active(self) -> bool:
        return self.active

    def acquire(self) -> bool:
        return self.active

    def release(self) -> None:
        self.active = False

    def suspended(self) -> bool:
        return self.is_suspended

    def refresh_requests(self) -> int:
        return 0

    def request_refresh(self) -> None:
        pass


class Harness:
    def __init__(self, drift: str = "restore", drift_interval: float = 300.0) -> None:
        self.clock, self.source, self.control = Clock(), Source(), Control()
        self.reconciler = Reconciler(self.source)
        self.metrics = ControllerMetrics()
        config = LoopConfig(SyncOptions(), Timing(interval=INTERVAL, drift_interval=drift_interval), drift)
        self.loop = ControllerLoop(
            LoopState("o"),
            self.source,
            self.reconciler,
            self.control,
            self.control,
            config,
            self.metrics,
            self.clock,
            random.Random(7),
        )

    def run_for(self, seconds: float) -> None:
        """Advance the clock as ``run`` would: to the next due time, tick, repeat."""
        end = self.clock.now + seconds
        while True:
            delay = self.loop.step()
            if self.clock.now + delay > end:
                self.clock.now = end
                return
            self.clock.now += max(delay, 0.001)

    def passes(self) -> int:
        return len(self.reconciler.calls)

    def metric(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def test_a_new_commit_is_applied_once_and_an_unmoved_ref_costs_only_a_remote_check() -> None:
    h = Harness()
    delay = h.loop.step()
    assert h.passes() == 1 and h.loop.state.ready
    assert INTERVAL * 0.9 <= delay <= INTERVAL * 1.1
    h.run_for(250)
    assert h.passes() == 1
    assert h.source.checks >= 4
    h.source.head = "b" * 40
    h.run_for(INTERVAL * 1.1)
    assert h.passes() == 2 and h.loop.state.done_revision == "b" * 40
    assert h.metric("deployctl_reconcile_passes_total", result="applied") == 2


def test_the_interval_is_jittered_within_ten_percent() -> None:
    h = Harness(drift="off")  # drift passes come on a clock of their own
    delays = []
    for _ in range(6):
        delays.append(h.loop.step())
        h.clock.now += delays[-1]
    assert all(INTERVAL * 0.9 <= d <= INTERVAL * 1.1 for d in delays)
    assert len({round(d, 3) for d in delays}) == len(delays)


def test_a_drift_pass_replans_everything_every_drift_interval_and_restores() -> None:
    h = Harness()
    h.loop.step()
    h.run_for(299)
    assert h.passes() == 1
    h.run_for(INTERVAL * 1.2)
    assert h.passes() == 2
    assert h.reconciler.calls[1].full and not h.reconciler.calls[1].dry_run
    assert h.metric("deployctl_drift_corrections_total") == 1


def test_a_drift_interval_shorter_than_the_interval_is_kept_between_polls_without_git() -> None:
    h = Harness(drift_interval=10.0)
    h.loop.step()
    checks = h.source.checks
    h.run_for(INTERVAL * 0.85)  # before the first poll at 54 to 66 s
    drifts = h.reconciler.calls[1:]
    assert len(drifts) == 5, [c.full for c in h.reconciler.calls]
    assert all(c.full and c.revision == h.source.head and not c.dry_run for c in drifts)
    assert h.source.checks == checks  # no remote check, no fetch: the commit at hand
    assert h.metric("deployctl_git_requests_total", kind="fetch") == 1
    assert h.metric("deployctl_drift_corrections_total") == 5
    h.run_for(INTERVAL * 0.3)
    assert h.source.checks == checks + 1  # the poll kept its interval


def test_no_drift_pass_while_a_newer_commit_is_refused() -> None:
    h = Harness(drift_interval=10.0)
    h.loop.step()
    h.source.head = "e" * 40
    h.reconciler.verdicts[h.source.head] = "invalid"
    h.loop.request_refresh()
    h.loop.step()
    assert h.loop.state.refused_revision == h.source.head
    passes = h.passes()
    h.run_for(INTERVAL * 3)
    assert h.passes() == passes


def test_report_only_drift_is_a_dry_run() -> None:
    h = Harness(drift="report-only")
    h.loop.step()
    h.run_for(370)
    drift = h.reconciler.calls[1]
    assert drift.full and drift.dry_run
    assert h.metric("deployctl_drift_corrections_total") == 0


def test_an_unreachable_source_backs_off_exponentially_capped_at_the_interval_then_recovers() -> None:
    h = Harness()
    h.source.down = True
    delays = [h.loop.step()]
    for _ in range(9):
        h.clock.now += delays[-1]
        delays.append(h.loop.step())
    assert delays[0] <= 1.0 and delays[1] <= 2.0 and delays[2] <= 4.0
    assert all(a <= b * 1.15 for a, b in zip(delays, delays[1:], strict=False))
    assert max(delays) <= INTERVAL and delays[-1] >= INTERVAL * 0.9
    assert h.passes() == 0 and h.loop.state.failures == 10
    assert h.metric("deployctl_git_failures_total", kind="ls-remote") == 10
    assert h.reconciler.source_failures == ["cannot reach the git server"] * 10
    h.source.down = False
    h.clock.now += delays[-1]
    h.loop.step()
    assert h.passes() == 1 and h.loop.state.failures == 0


def test_a_failed_apply_is_retried_with_backoff_on_the_same_commit() -> None:
    h = Harness()
    h.reconciler.verdicts[h.source.head] = "apply-failed"
    first = h.loop.step()
    assert first <= 1.0 and h.passes() == 1
    h.clock.now += first
    assert h.loop.step() <= 2.0 and h.passes() == 2
    h.reconciler.verdicts.clear()
    h.run_for(4)
    assert h.passes() == 3 and h.loop.state.done_revision == h.source.head


def test_a_stalled_error_mid_pass_waits_for_a_new_commit_instead_of_backing_off() -> None:
    """A ``ConfigError`` raised by the registry while applying (a work pool that does not exist)
    is not retried with backoff as if the network had failed: the commit waits for a new one."""
    h = Harness()
    h.reconciler.verdicts[h.source.head] = "misconfigured"
    h.loop.step()
    h.run_for(3600)
    assert h.passes() == 1 and h.loop.state.failures == 0
    assert h.loop.state.refused_revision == h.source.head
    h.source.head = "c" * 40
    h.run_for(INTERVAL * 1.1)
    assert h.passes() == 2 and h.loop.state.done_revision == h.source.head


def test_an_invalid_commit_is_tried_once_until_a_new_commit_arrives() -> None:
    h = Harness()
    h.reconciler.verdicts[h.source.head] = "invalid"
    h.loop.step()
    h.run_for(3600)
    assert h.passes() == 1
    assert h.loop.state.refused_revision == h.source.head
    assert h.metric("deployctl_reconcile_passes_total", result="refused") == 1
    h.loop.request_refresh()
    h.loop.step()
    assert h.passes() == 1  # a webhook for the same commit changes nothing
    h.source.head = "c" * 40
    h.run_for(INTERVAL * 1.1)
    assert h.passes() == 2 and h.loop.state.refused_revision is None


def test_a_stalled_error_refuses_and_a_transient_one_retries() -> None:
    h = Harness()
    h.reconciler.raises = RegistryUnavailable("database is locked")
    assert h.loop.step() <= 1.0 and h.loop.state.failures == 1
    h.reconciler.raises = StalledError("bad ref")
    h.clock.now += 1
    h.loop.step()
    assert h.loop.state.refused_revision == h.source.head and h.loop.state.failures == 0


def test_a_webhook_checks_at_once_and_a_burst_coalesces() -> None:
    h = Harness()
    h.loop.step()
    checks = h.source.checks
    h.source.head = "d" * 40
    for _ in range(5):
        h.loop.request_refresh()
    h.clock.now += 1
    h.loop.step()
    h.clock.now += 1
    h.loop.step()
    assert h.passes() == 2 and h.source.checks == checks + 1


def test_a_standby_never_reconciles_and_takes_over_when_active() -> None:
    h = Harness()
    h.control.active = False
    h.run_for(600)
    assert h.passes() == 0 and h.source.checks == 0 and h.loop.state.role == "standby"
    assert h.metric("deployctl_active") == 0
    h.control.active = True
    h.loop.step()
    assert h.passes() == 1 and h.loop.state.role == "active"


def test_suspended_reports_without_applying_and_resume_applies() -> None:
    h = Harness()
    h.control.is_suspended = True
    h.loop.step()
    h.run_for(600)
    assert [c.dry_run for c in h.reconciler.calls] == [True]
    assert h.loop.state.suspended and h.loop.state.done_revision is None
    h.control.is_suspended = False
    h.run_for(INTERVAL * 1.1)
    assert [c.dry_run for c in h.reconciler.calls] == [True, False]
    assert h.loop.state.done_revision == h.source.head


def test_drift_off_never_replans() -> None:
    h = Harness(drift="off")
    h.loop.step()
    h.run_for(1000)
    assert h.passes() == 1


def test_deployments_an_incremental_pass_counted_but_never_listed_are_synced() -> None:
    plan = Plan(
        (
            Change(Action.UPDATE, DeploymentId("etl/a"), Cause.GIT),
            Change(Action.DELETE, DeploymentId("etl/b")),
        ),
        owned_count=5,
        unchanged=3,
    )
    result = SyncResult("owner", "c0ffee", plan=plan, applied=True, conditions=ready())
    assert deployment_statuses(result, Outcome.DONE) == {
        "synced": 4,
        "out_of_sync": 0,
        "failed": 0,
        "frozen": 0,
    }
    assert plan.counts == {"create": 0, "update": 1, "delete": 1, "noop": 3}


def test_a_refused_pass_counts_what_the_registry_holds_and_an_unknown_one_keeps_the_counts() -> None:
    metrics = ControllerMetrics()
    applied = SyncResult("o", "a" * 40, plan=Plan((), unchanged=3), applied=True, conditions=ready())
    metrics.observe_pass(Outcome.DONE, 0.1, applied, fetched=True)
    refused = SyncResult(
        "o", "b" * 40, error="1 problem", conditions=stalled(Reason.VALIDATION_FAILED, "x"), in_force=3
    )
    metrics.observe_pass(Outcome.REFUSED, 0.1, refused, fetched=True)

    def count(status: str) -> float | None:
        return metrics.registry.get_sample_value("deployctl_deployments", {"status": status})

    assert (count("synced"), count("frozen")) == (0, 3)
    unreachable = SyncResult("o", error="cannot fetch", conditions=stalled(Reason.SOURCE_FAILED, "x"))
    metrics.observe_pass(Outcome.TRANSIENT, 0.1, unreachable, fetched=True)
    assert (count("synced"), count("frozen")) == (0, 3)


def test_a_refused_commit_is_read_again_after_an_outage_to_replace_the_source_failure() -> None:
    h = Harness()
    h.reconciler.verdicts[h.source.head] = "invalid"
    h.loop.step()
    h.source.down = True
    h.run_for(INTERVAL * 1.1)
    assert h.reconciler.source_failures and h.passes() == 1
    h.source.down = False
    h.run_for(INTERVAL * 3)
    assert h.passes() == 2  # once, to record the refusal's reason over the source failure
    assert h.loop.state.refused_revision == h.source.head and h.loop.state.failures == 0
