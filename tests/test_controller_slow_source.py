"""A silent remote is a failing source, never a dead controller (issue 26 item 7): every git
step's deadline follows the liveness limit (``--interval``), so /readyz reports the failure
while /healthz stays green. The remote is a TCP server on loopback that never answers, behind
``git://``, where no low-speed limit of git's own applies."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path
from urllib.parse import urlsplit

from controller.adapters.git.remote import DEFAULT_TIMEOUT, auth_for
from controller.app import App
from controller.engine.reconciler import SyncOptions
from controller.ports import SourceSpec
from controller.runtime.controlling.policy import Timing
from controller.runtime.controlling.service import ControllerSettings, run_controller
from controller.settings import Settings
from tests.controller_fixtures import request, wait_for
from tests.githttp import StallingServer


def test_the_git_deadline_stays_under_the_liveness_limit() -> None:
    settings = ControllerSettings(timing=Timing(interval=5))
    assert settings.liveness_limit() == 135
    assert 2 * settings.git_timeout() < settings.liveness_limit()  # the remote check, then the fetch
    assert ControllerSettings(timing=Timing(interval=600)).git_timeout() >= DEFAULT_TIMEOUT


def test_the_controller_caps_the_configured_git_timeout(tmp_path: Path) -> None:
    def timeout(environ: dict[str, str], cap: float) -> float:
        return auth_for("git://example.invalid/x.git", environ, tmp_path, cap).timeout

    assert timeout({}, 45.0) == 45.0
    assert timeout({"DEPLOYCTL_GIT_TIMEOUT": "600"}, 45.0) == 45.0
    assert timeout({"DEPLOYCTL_GIT_TIMEOUT": "10"}, 45.0) == 10.0
    assert timeout({}, float("inf")) == DEFAULT_TIMEOUT


def test_a_silent_remote_fails_readiness_and_keeps_liveness(tmp_path: Path) -> None:
    settings = ControllerSettings(
        options=SyncOptions(owner="silent"),
        listen=("127.0.0.1", 0),
        liveness=6.0,
        timing=Timing(interval=0.5),
    )
    with StallingServer() as silent:
        url = f"git://127.0.0.1:{urlsplit(silent.url).port}/flows.git"
        app = App(Settings.resolve(home=str(tmp_path / "home"), env={}))
        parts = app.controller_parts(SourceSpec(url), 3.0, engine=False, git_timeout=settings.git_timeout())
        stop, urls = threading.Event(), queue.Queue[str]()
        thread = threading.Thread(target=run_controller, args=(parts, settings, stop, urls.put), daemon=True)
        thread.start()
        base, liveness = urls.get(timeout=10), []
        try:

            def source_failing() -> str | None:
                liveness.append(request(base + "/healthz")[0])
                status, text = request(base + "/readyz")
                return text if status == 503 and "source failing" in text else None

            reason = wait_for(source_failing, what="/readyz to report the silent remote")
            assert liveness and set(liveness) == {200}, liveness
            (source,) = json.loads(request(base + "/api/status")[1])["sources"]
        finally:
            stop.set()
            thread.join(30)
    assert "no answer within 2 s" in reason and "cannot reach git://127.0.0.1" in reason, reason
    # recorded in the owner's status, which names the source: nothing was ever applied
    assert source["repository"] == url and source["last_applied_revision"] is None and source["updated_at"]
    stalled = source["conditions"][1]
    assert (stalled["type"], stalled["reason"]) == ("Stalled", "SourceFailed"), source
    assert stalled["message"].startswith(f"cannot reach {url}: no answer within 2 s"), stalled
