"""The controller's Prometheus metrics, in a registry of their own (one per controller).

Written by the loop after every pass and by the HTTP server for every webhook; read by
``/metrics``. Flow runs by state are collected at scrape time from the engine, when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.engine.reconciler import SyncResult
from controller.runtime.controlling.policy import Outcome, deployment_statuses

_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ControllerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.duration = Histogram(
            "deployctl_reconcile_duration_seconds",
            "Duration of reconcile passes.",
            buckets=_BUCKETS,
            registry=r,
        )
        self.passes = Counter(
            "deployctl_reconcile_passes", "Reconcile passes by result.", ["result"], registry=r
        )
        self.deployments = Gauge(
            "deployctl_deployments", "Deployments by sync status after the last pass.", ["status"], registry=r
        )
        self.revision = Info("deployctl_last_applied_revision", "The revision in force.", registry=r)
        self.git_requests = Counter(
            "deployctl_git_requests", "Remote checks and fetches.", ["kind"], registry=r
        )
        self.git_failures = Counter(
            "deployctl_git_failures", "Failed remote checks and fetches.", ["kind"], registry=r
        )
        self.webhooks = Counter(
            "deployctl_webhook_requests",
            "Webhook requests by provider and result.",
            ["provider", "result"],
            registry=r,
        )
        self.drift = Counter("deployctl_drift_corrections", "Drifted deployments restored.", registry=r)
        self.up = Gauge("deployctl_active", "1 when this controller holds the writer lease.", registry=r)
        self.held = Gauge(
            "deployctl_held",
            "1 while the owner is held at a rolled-back revision (deployctl rollback), until released.",
            registry=r,
        )

    def observe_pass(self, outcome: Outcome, seconds: float, result: SyncResult, fetched: bool) -> None:
        self.duration.observe(seconds)
        self.passes.labels(outcome.value).inc()
        if fetched:
            self.git_requests.labels("fetch").inc()
            if result.revision is None:
                self.git_failures.labels("fetch").inc()
        for status, count in (deployment_statuses(result, outcome) or {}).items():
            self.deployments.labels(status).set(count)
        if outcome in (Outcome.DONE, Outcome.UP_TO_DATE) and result.revision:
            self.revision.info({"revision": result.revision, "ref": result.ref, "owner": result.owner})

    def watch_flow_runs(self, runs_by_state: Callable[[], Mapping[str, int]]) -> None:
        self.registry.register(_FlowRuns(runs_by_state))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _FlowRuns(Collector):
    def __init__(self, runs_by_state: Callable[[], Mapping[str, int]]) -> None:
        self.runs_by_state = runs_by_state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("deployctl_flow_runs", "Flow runs by state.", labels=["state"])
        for state, count in sorted(self.runs_by_state().items()):
            family.add_metric([state], count)
        yield family
