"""What a pass reads from a shared Prefect server: its owner's deployments, not everyone's, and
enough of them that an edit made through any of Prefect's endpoints is seen as drift."""

from __future__ import annotations

import pytest

from controller.core.plan import Action, Cause
from tests.prefect import test_prefect_sync
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, server_request, unique
from tests.prefect.test_prefect_sync import block_manifest

pytestmark = pytest.mark.prefect

setup = test_prefect_sync.setup  # the same one-deployment repository and pool


def test_a_schedule_edit_leaves_updated_alone_and_the_next_sync_still_restores_it(setup: PrefectSync) -> None:
    """Prefect 3.9.1's schedule endpoint changes the schedule's row only: the deployment's
    ``updated`` stays, so a count and the latest ``updated`` of the owner's deployments cannot
    tell that nothing drifted. The pass that finds its commit applied must still see it."""
    assert setup.sync().ok
    identity = f"{setup.flow}/nightly"  # type: ignore[attr-defined]
    before = setup.inspect(identity)
    schedule = before["schedules"][0]
    edited = server_request(
        "PATCH",
        f"{setup.server.api_url}/deployments/{before['id']}/schedules/{schedule['id']}",
        json={"active": False},
    )
    assert edited.status_code == 204, edited.text
    after = setup.inspect(identity)
    assert after["schedules"][0]["active"] is False
    assert after["updated"] == before["updated"]
    assert after["schedules"][0]["updated"] != schedule["updated"]

    planned = setup.sync(dry_run=True)  # the commit is applied: only drift makes a plan
    assert planned.plan is not None and not planned.up_to_date
    (change,) = planned.plan.changes
    assert change.action is Action.UPDATE and change.cause is Cause.DRIFT
    assert setup.sync().ok
    assert setup.inspect(identity)["schedules"][0]["active"] is True


def test_a_pass_lists_its_owners_deployments_and_reads_a_declared_one_by_name(
    setup: PrefectSync, prefect_server: PrefectServer
) -> None:
    """Others' deployments on the server are never listed; one that the repository declares
    but a person made is still found, and left alone."""
    api = prefect_server.api_url
    assert setup.sync().ok
    stranger = server_request("POST", f"{api}/flows/", json={"name": unique("stranger")}).json()
    for i in range(3):
        server_request(
            "POST", f"{api}/deployments/", json={"name": f"s-{i}", "flow_id": stranger["id"]}
        ).raise_for_status()
    registry = setup.registry()
    result = setup.sync(registry, full=True)
    assert result.ok and result.plan is not None and result.plan.counts["noop"] == 1
    assert registry.client.listed["/deployments/filter"] == 1
    assert int(server_request("POST", f"{api}/deployments/count", json={}).json()) > 4

    flow = server_request("POST", f"{api}/flows/", json={"name": setup.flow}).json()  # type: ignore[attr-defined]
    server_request(
        "POST", f"{api}/deployments/", json={"name": "weekly", "flow_id": flow["id"], "parameters": {"n": 7}}
    ).raise_for_status()
    weekly = block_manifest(setup.flow, setup.pool).replace("name: nightly", "name: weekly")  # type: ignore[attr-defined]
    setup.repo.write({"flows/weekly/deployment.yaml": weekly, "flows/weekly/flow.py": "def run(n=1): ...\n"})
    setup.repo.commit("weekly")
    for full in (False, True):
        planned = setup.sync(dry_run=True, full=full)
        assert planned.plan is not None and planned.plan.conflicts == (f"{setup.flow}/weekly",)  # type: ignore[attr-defined]
    assert setup.inspect(f"{setup.flow}/weekly")["parameters"] == {"n": 7}  # type: ignore[attr-defined]
