"""The controller's HTTP port, in process: probes, status, metrics parsed by prometheus_client,
webhook signatures for each provider, oversized bodies, slow clients, and a stuck loop."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.adapters.git.remote_head import RemoteHead
from controller.adapters.sqlite.lease import SqliteOwnerControl
from controller.adapters.sqlite.registry import parse_sqlite_url
from controller.app import App
from controller.engine.reconciler import SyncOptions, SyncResult
from controller.errors import ConfigError
from controller.ports import SourceSpec
from controller.runtime.controlling.policy import Timing
from controller.runtime.controlling.service import ControllerParts, ControllerSettings, run_controller
from controller.runtime.controlling.webhooks import load_secret
from controller.settings import Settings
from tests.controller_fixtures import request, wait_for
from tests.gitrepo import repository

SECRET = "in-process-secret"


@dataclass
class Engine:
    events: list[str] = field(default_factory=list)

    def start(self) -> None:
        self.events.append("start")

    def drain(self) -> None:
        self.events.append("drain")

    def runs_by_state(self) -> Mapping[str, int]:
        return {"COMPLETED": 2, "RUNNING": 1}


@dataclass
class Gate:
    """A ``Reconcile`` that holds every pass after the first until the test opens it."""

    inner: Callable[..., SyncResult]
    open: threading.Event = field(default_factory=threading.Event)
    calls: int = 0

    def reconcile_once(self, options: SyncOptions, progress: object = None) -> SyncResult:
        self.calls += 1
        if self.calls > 2:
            self.open.wait(30)
        return self.inner(options)


class Running:
    def __init__(
        self, tmp: Path, secret: str | None = SECRET, gate: bool = False, **settings: object
    ) -> None:
        repo = repository(tmp / "repo", ["a"])
        self.repo, self.engine = repo, Engine()
        config = Settings.resolve(home=str(tmp / "home"))
        spec = SourceSpec(str(repo.root))
        reconciler = App(config).reconciler(spec)
        self.gate = Gate(reconciler.reconcile_once) if gate else None
        database = parse_sqlite_url(config.registry_url)
        parts = ControllerParts(
            RemoteHead(spec, config.home),
            self.gate or reconciler,
            lambda owner: SqliteOwnerControl(database, owner, "in-process", 3.0),
            engine=self.engine,
            status_report=lambda owner: [{"owner": owner}],
        )
        options = ControllerSettings(listen=("127.0.0.1", 0), webhook_secret=secret, ref="main", **settings)  # type: ignore[arg-type]
        self.stop, urls = threading.Event(), queue.Queue[str]()
        self.exit_code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(parts, options, urls.put), daemon=True)
        self.thread.start()
        self.url = urls.get(timeout=10)

    def _run(
        self, parts: ControllerParts, options: ControllerSettings, on_listening: Callable[[str], None]
    ) -> None:
        self.exit_code = run_controller(parts, options, self.stop, on_listening)

    def get(self, path: str) -> tuple[int, str]:
        return request(self.url + path)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        status, text = request(self.url + path, body, headers)
        return status, json.loads(text)

    def close(self) -> int | None:
        if self.gate is not None:
            self.gate.open.set()
        self.stop.set()
        self.thread.join(30)
        return self.exit_code


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    controller = Running(tmp_path)
    wait_for(lambda: controller.get("/readyz")[0] == 200, what="the first pass")
    yield controller
    controller.close()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_probes_status_and_a_clean_stop(tmp_path: Path) -> None:
    controller = Running(tmp_path)
    wait_for(lambda: controller.get("/readyz") == (200, "ready\n"), what="readiness")
    assert controller.get("/healthz")[0] == 200
    document = json.loads(controller.get("/api/status")[1])
    assert document["controller"]["role"] == "active" and document["controller"]["ready"]
    assert document["sources"] == [{"owner": document["controller"]["owner"]}]
    assert document["controller"]["applied_revision"] == controller.repo.git("rev-parse", "HEAD")
    assert controller.get("/nowhere")[0] == 404
    assert controller.engine.events == ["start"]
    assert controller.close() == 0
    assert controller.engine.events == ["start", "drain"]


def test_metrics_parse_with_prometheus_clients_own_parser(running: Running) -> None:
    families = {f.name: f for f in text_string_to_metric_families(running.get("/metrics")[1])}
    expected = {
        "deployctl_reconcile_duration_seconds": "histogram",
        "deployctl_reconcile_passes": "counter",
        "deployctl_deployments": "gauge",
        "deployctl_last_applied_revision_info": "gauge",  # an Info, as the text format carries it
        "deployctl_git_requests": "counter",
        "deployctl_git_failures": "counter",
        "deployctl_webhook_requests": "counter",
        "deployctl_drift_corrections": "counter",
        "deployctl_flow_runs": "gauge",
        "deployctl_active": "gauge",
    }
    assert {name: families[name].type for name in expected} == expected
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples
    }
    assert samples[("deployctl_reconcile_passes_total", (("result", "applied"),))] == 1
    assert samples[("deployctl_deployments", (("status", "synced"),))] == 1
    assert samples[("deployctl_flow_runs", (("state", "COMPLETED"),))] == 2
    revision = running.repo.git("rev-parse", "HEAD")
    (info,) = families["deployctl_last_applied_revision_info"].samples
    assert info.labels["revision"] == revision and info.labels["ref"] == "main"
    assert samples[("deployctl_reconcile_duration_seconds_count", ())] == 1


def test_github_signature_and_ping(running: Running) -> None:
    ping = json.dumps({"zen": "hi"}).encode()
    assert running.post(
        "/hooks/github", ping, {"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign(ping)}
    ) == (
        200,
        {"result": "ping", "message": "pong"},
    )
    push = json.dumps({"ref": "refs/heads/main"}).encode()
    assert running.post("/hooks/github", push, {"X-GitHub-Event": "push"})[0] == 401
    wrong = sign(push, "guess")
    assert (
        running.post("/hooks/github", push, {"X-GitHub-Event": "push", "X-Hub-Signature-256": wrong})[0]
        == 401
    )
    tampered = json.dumps({"ref": "refs/heads/main", "x": 1}).encode()
    assert running.post("/hooks/github", tampered, {"X-Hub-Signature-256": sign(push)})[0] == 401
    assert running.post("/hooks/github", push, {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign(push)})[
        1
    ] == {"result": "accepted", "message": "refresh scheduled"}
    issue = json.dumps({"action": "opened"}).encode()
    assert (
        running.post(
            "/hooks/github", issue, {"X-GitHub-Event": "issues", "X-Hub-Signature-256": sign(issue)}
        )[1]["result"]
        == "ignored"
    )


def test_gitlab_token_and_generic_hooks(running: Running) -> None:
    push = json.dumps({"ref": "refs/heads/main"}).encode()
    gitlab = {"X-Gitlab-Event": "Push Hook"}
    assert running.post("/hooks/gitlab", push, {**gitlab, "X-Gitlab-Token": SECRET})[0] == 202
    assert running.post("/hooks/gitlab", push, {**gitlab, "X-Gitlab-Token": "nope"})[0] == 401
    other = json.dumps({"ref": "refs/heads/feature"}).encode()
    assert running.post("/hooks/gitlab", other, {**gitlab, "X-Gitlab-Token": SECRET}) == (
        202,
        {"result": "ignored", "message": "push to refs/heads/feature ignored: watching main"},
    )
    assert running.post("/hooks/generic", b"{}", {"Authorization": f"Bearer {SECRET}"})[0] == 202
    assert running.post("/hooks/generic", b"{}", {"X-Hub-Signature-256": sign(b"{}")})[0] == 202
    assert running.post("/hooks/generic", b"{}", {"X-Deployctl-Token": SECRET})[0] == 202
    assert running.post("/hooks/generic", b"{}", {"Authorization": "Bearer nope"})[0] == 401
    assert running.post("/hooks/generic", b"[1]", {"X-Deployctl-Token": SECRET})[0] == 400
    assert running.post("/hooks/elsewhere", b"{}", {})[0] == 404


def test_without_a_secret_every_hook_is_refused(tmp_path: Path) -> None:
    controller = Running(tmp_path, secret=None)
    try:
        status, answer = controller.post("/hooks/generic", b"{}", {"Authorization": "Bearer "})
        assert status == 401 and "DEPLOYCTL_WEBHOOK_SECRET" in answer["message"]
    finally:
        controller.close()


def raw(url: str, data: bytes, timeout: float = 10) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def test_an_oversized_body_gets_413_before_it_is_read(running: Running) -> None:
    head = b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n"
    assert raw(running.url, head + b"{").startswith(b"HTTP/1.1 413")
    families = text_string_to_metric_families(running.get("/metrics")[1])
    hooks = {
        tuple(s.labels.values()): s.value
        for f in families
        for s in f.samples
        if s.name == "deployctl_webhook_requests_total"
    }
    assert hooks[("github", "too_large")] == 1


def test_a_slow_client_is_dropped_and_others_are_served(tmp_path: Path) -> None:
    controller = Running(tmp_path, client_timeout=0.5)
    try:
        wait_for(lambda: controller.get("/readyz")[0] == 200, what="readiness")
        head = b"POST /hooks/github HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"
        dropped = threading.Thread(target=lambda: raw(controller.url, head))
        dropped.start()
        assert controller.get("/healthz")[0] == 200
        dropped.join(5)
        assert not dropped.is_alive()
        assert raw(controller.url, b"GET /healthz HTTP/1.1\r\nHost: x") == b""  # headers never finished
    finally:
        controller.close()


def test_healthz_fails_while_the_loop_is_stuck_and_recovers(tmp_path: Path) -> None:
    controller = Running(tmp_path, gate=True, liveness=1.0, timing=Timing(interval=0.2))
    try:
        wait_for(lambda: controller.get("/readyz")[0] == 200, what="the first pass")
        controller.repo.write(
            {"flows/b/deployment.yaml": "name: b\nflow_name: etl\nentrypoint: flow.py:run\n"}
        )
        controller.repo.write({"flows/b/flow.py": "def run():\n    pass\n"}).commit()
        wait_for(lambda: controller.get("/healthz")[0] == 503, what="the stuck loop to be noticed")
        assert controller.gate is not None
        controller.gate.open.set()
        wait_for(lambda: controller.get("/healthz")[0] == 200, what="the loop to tick again")
    finally:
        controller.close()


def test_the_webhook_secret_comes_from_the_environment_or_a_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    assert load_secret({"DEPLOYCTL_WEBHOOK_SECRET": "direct"}) == "direct"
    assert load_secret({"DEPLOYCTL_WEBHOOK_SECRET_FILE": str(tmp_path / "secret")}) == "from-file"
    assert load_secret({}) is None
    with pytest.raises(ConfigError, match="DEPLOYCTL_WEBHOOK_SECRET_FILE .*missing"):
        load_secret({"DEPLOYCTL_WEBHOOK_SECRET_FILE": str(tmp_path / "missing")})


def test_a_controller_that_cannot_go_on_exits_2_not_plans_1(tmp_path: Path) -> None:
    repo = repository(tmp_path / "repo", ["a"])
    config = Settings.resolve(home=str(tmp_path / "home"))
    spec = SourceSpec(str(repo.root))

    def no_control(owner: str) -> SqliteOwnerControl:
        raise ConfigError(f"the lease of {owner} cannot be kept here")

    parts = ControllerParts(RemoteHead(spec, config.home), App(config).reconciler(spec), no_control)
    settings = ControllerSettings(listen=("127.0.0.1", 0), ref="main")
    assert run_controller(parts, settings, threading.Event()) == 2  # the failure itself ends the wait


def test_a_port_that_is_taken_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.cli_helpers import run_deployctl

    repository(tmp_path / "repo", ["a"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_deployctl(tmp_path, "controller", "repo", "--listen", f"127.0.0.1:{port}", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --listen HOST:PORT (or DEPLOYCTL_LISTEN)"
    ]
