"""On a Prefect server too: a no-op pass records "applied" only under the owner's lease, if the
owner's state and deployments are as it read them; and an owner belongs to one repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.controller_fixtures import GitDaemon, Published
from tests.gitrepo import GitRepo
from tests.prefect.conftest import PrefectServer
from tests.prefect.helpers import PrefectSync, flow_manifest, sibling_branches, unique
from tests.source_failure import check_unreachable_source_is_recorded_then_cleared
from tests.test_noop_status_race import RecordsAfter

pytestmark = pytest.mark.prefect


def names(job: PrefectSync, flow: str) -> set[str]:
    return {row.name for row in job.registry().list_deployments() if row.flow_name == flow}


@pytest.mark.stress
def test_a_sync_landing_between_a_no_op_read_and_its_record_is_never_overwritten(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow = unique("noop-race")
    repo, commits = sibling_branches(tmp_path / "repo", flow)
    job = PrefectSync(prefect_server, repo, tmp_path / "ci", unique("owner"), {})
    other = PrefectSync(prefect_server, repo, tmp_path / "ci-b", job.owner, {})
    assert job.sync(ref="a").ok
    landed = []

    def between() -> None:
        landed.append(other.sync(ref="b"))

    no_op = job.sync(RecordsAfter(job.registry(), between), ref="a", full=True)  # type: ignore[arg-type]

    assert landed and landed[0].ok and landed[0].applied, landed
    assert no_op.plan is not None and not no_op.plan.has_changes
    assert not no_op.ok and no_op.error and "changed since the plan was made" in no_op.error, no_op.error
    status = job.registry().read_status(job.owner)
    assert status is not None and status.last_applied_revision == commits["b"]
    assert names(job, flow) == {"base", "only-b"}
    again = job.sync(ref="a")
    assert again.ok and again.applied, again.error
    status = job.registry().read_status(job.owner)
    assert status is not None and status.last_applied_revision == commits["a"]
    assert names(job, flow) == {"base", "only-a"}


def test_a_second_repository_under_one_owner_is_refused_until_it_adopts_the_owner(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    flow, owner = unique("one-owner"), unique("data-team")
    first, second = GitRepo(tmp_path / "one" / "flows"), GitRepo(tmp_path / "two" / "flows", "master")
    for repo, deployments in ((first, "abcd"), (second, "ab")):
        for name in deployments:
            repo.write(flow_manifest(flow, name))
        repo.write({"README": str(repo.root)}).commit("flows")
    jobs = [
        PrefectSync(prefect_server, repo, tmp_path / f"ci-{i}", owner, {})
        for i, repo in enumerate((first, second))
    ]
    assert jobs[0].sync().ok
    before = jobs[0].registry().read_status(owner)

    refused = jobs[1].sync()
    planned = jobs[1].sync(dry_run=True)

    for result in (refused, planned):
        assert result.error and "a different repository" in result.error and "--adopt-owner" in result.error
        assert str(first.root.resolve()) in result.error and str(second.root.resolve()) in result.error
    assert names(jobs[0], flow) == set("abcd")
    assert jobs[0].registry().read_status(owner) == before, "the refusal wrote the owner's status"
    adopted = jobs[1].sync(adopt_owner=True)
    assert adopted.ok and adopted.applied, adopted.error
    assert names(jobs[0], flow) == set("ab")
    status = jobs[0].registry().read_status(owner)
    assert status is not None and status.identity == str(second.root.resolve()) and status.ref == "master"


def test_an_unreachable_source_is_recorded_in_status_and_cleared_by_the_next_fetch(
    prefect_server: PrefectServer, tmp_path: Path
) -> None:
    (tmp_path / "served").mkdir()
    daemon = GitDaemon(tmp_path / "served").start()
    try:
        published = Published(tmp_path, daemon)
        job = PrefectSync(prefect_server, published.work, tmp_path / "ci", unique("owner"), {}, published.url)
        check_unreachable_source_is_recorded_then_cleared(
            published, daemon, job.sync, job.registry, job.owner, flow_manifest(unique("unreachable"), "a")
        )
    finally:
        daemon.stop()
