"""The unreachable-source scenario every registry must pass (issue 26 item 8): a pass whose
source cannot be read is recorded in the owner's status as Stalled/SourceFailed, naming the
source, leaving the revisions and the last outcomes as they were; repeated failures keep the
first one's time; the next pass that reads a commit replaces it. Called by the SQLite test in
``test_sync_remote`` and the Prefect one in ``tests/prefect``."""

from __future__ import annotations

from collections.abc import Callable

from controller.engine.reconciler import SyncResult
from controller.ports import Registry
from tests.controller_fixtures import GitDaemon, Published


def check_unreachable_source_is_recorded_then_cleared(
    published: Published,
    daemon: GitDaemon,
    sync: Callable[[], SyncResult],
    registry: Callable[[], Registry],
    owner: str,
    files: dict[str, str],
) -> None:
    applied = published.push(files, "initial")
    assert sync().ok
    outcomes = registry().last_outcomes(owner)
    assert outcomes, "the first pass created a deployment"

    daemon.stop()
    failed = [sync(), sync()]
    assert all(r.error and r.error.startswith(f"cannot fetch {published.url}: ") for r in failed), failed
    status = registry().read_status(owner)
    assert status is not None
    assert (status.last_applied_revision, status.last_attempted_revision) == (applied, applied)
    reasons = [(c.type.value, c.status, c.reason.value) for c in status.conditions]
    assert reasons == [("Ready", False, "SourceFailed"), ("Stalled", True, "SourceFailed")], reasons
    assert status.conditions[1].message == failed[0].error
    assert status.updated_at
    assert registry().last_outcomes(owner) == outcomes  # the last pass over a commit

    failed_again = sync()
    assert failed_again.error == failed[0].error
    again = registry().read_status(owner)
    assert again is not None and again.updated_at == status.updated_at  # since the first failure

    daemon.start()
    done = sync()
    assert done.ok, done.error
    cleared = registry().read_status(owner)
    assert cleared is not None and [c.reason.value for c in cleared.conditions] == ["Succeeded"]
    assert cleared.last_applied_revision == applied
