"""What the plan and a watched run print, from our own result types: every part of a pull-request
comment in markdown, and the last line of a failed run."""

from __future__ import annotations

from controller.cli.rendering import render_markdown
from controller.cli.runs import final_line
from controller.core.diagnostics import Diagnostic
from controller.core.diff import DiffItem
from controller.core.plan import Action, Cause, Change, Plan
from controller.core.runs import FlowRun, StateType
from controller.core.spec import DeploymentId
from controller.core.status import ready
from controller.engine.reconciler import SyncResult
from controller.services.feedback import error_line

A, B = DeploymentId("etl/a"), DeploymentId("etl/b")


def test_markdown_shows_warnings_failures_errors_and_values_as_yaml() -> None:
    change = Change(
        Action.UPDATE,
        A,
        Cause.GIT,
        diff=(
            DiffItem("job_variables", {"env": {"LEVEL": "debug"}}, {"env": {"LEVEL": "info"}}),
            DiffItem("tags", ["etl"], ["etl", "nightly"]),
            DiffItem("description", "x" * 300, "short"),
        ),
    )
    result = SyncResult(
        "team",
        revision="0123456789abcdef",
        ref="main",
        plan=Plan((change,), owned_count=2),
        failures={B: "the server refused it: no work pool 'p'"},
        warnings=("uncommitted edits in the working tree are not applied",),
        error="1 deployment failed",
    )
    text = render_markdown(result)
    assert "> **Error:** 1 deployment failed" in text
    assert "> **Warning:** uncommitted edits in the working tree are not applied" in text
    assert "| failed | `etl/b` | the server refused it: no work pool 'p' |" in text
    assert "`job_variables: {env: {LEVEL: debug}} -> {env: {LEVEL: info}}`" in text
    assert "`tags: [etl] -> [etl, nightly]`" in text
    assert f"`description: {'x' * 300} -> short`" in text  # whole, never a truncated repr
    assert "No changes." not in text


def test_a_watched_run_that_failed_ends_with_the_exceptions_last_line() -> None:
    message = (
        'exit code 1: Traceback (most recent call last):\n  File "flows.py", line 3\n'
        "TypeError: my_flow() got an unexpected keyword argument 'nosuch'\n"
    )
    run = FlowRun(
        "3f0c0000-0000-0000-0000-000000000000", "my_flow/ad-hoc", "my_flow", "ad-hoc-3f0c0000",
        StateType.FAILED, "Failed", message, "2026-11-28T00:00:00+00:00", {}, "default", "digest",
    )  # fmt: skip
    assert final_line(run) == (
        "flow run 3f0c0000-0000-0000-0000-000000000000 finished: Failed "
        "(TypeError: my_flow() got an unexpected keyword argument 'nosuch')"
    )


def test_a_runs_job_variables_merge_env_name_by_name_over_the_deployments() -> None:
    from controller.runtime.ad_hoc import _with_job_variables

    record = {"name": "a", "job_variables": {"env": {"DB_URL": "db", "LEVEL": "info"}, "working_dir": "w"}}
    merged = _with_job_variables(record, {"env": {"LEVEL": "debug"}, "stream_output": False})
    assert merged["job_variables"] == {
        "env": {"DB_URL": "db", "LEVEL": "debug"},
        "working_dir": "w",
        "stream_output": False,
    }
    assert record["job_variables"]["env"] == {"DB_URL": "db", "LEVEL": "info"}  # left untouched


def test_problems_are_a_table_in_markdown_and_the_first_one_is_the_error_line() -> None:
    problems = (
        Diagnostic(
            "flows/a/deployment.yaml", 4, 1, "shedule", "unknown key | a pipe\nand a line", "unknown-key"
        ),
        Diagnostic("flows/b/big.yaml", 0, 0, "", "over 1 MiB", "too-large"),
    )
    result = SyncResult("team", revision="0123456789abcdef", ref="main", diagnostics=problems)
    text = render_markdown(result, "sync")
    assert text.startswith("### deployctl sync for `0123456789ab` (main)")
    assert (
        "| error | `flows/a/deployment.yaml:4` | `shedule` | unknown key \\| a pipe<br>and a line |" in text
    )
    assert "| error | `flows/b/big.yaml` |  | over 1 MiB |" in text
    assert error_line(result) == (
        "2 problem(s) in the manifests: flows/a/deployment.yaml:4:1: shedule: unknown key | a pipe "
        "and a line (and 1 more)"
    )
    assert error_line(SyncResult("team", revision="0123", conditions=ready())) is None
