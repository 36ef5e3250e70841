"""The Prefect backend's pure parts, without a server: translation, settings, backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.adapters.prefect.client import backoff
from controller.adapters.prefect.settings import resolve_server
from controller.adapters.prefect.translate import (
    CodeSource,
    Stamp,
    changed_fields,
    parameter_schema,
    to_api,
    without_credentials,
)
from controller.core.spec import DeploymentSpec, InfrastructureSpec, ScheduleKind, ScheduleSpec, SourceRef
from controller.errors import ConfigError

STEPS = "prefect.deployments.steps."


def spec(**fields: object) -> DeploymentSpec:
    base: dict[str, object] = {
        "flow_name": "etl",
        "name": "daily",
        "entrypoint": "flow.py:run",
        "code_dir": "flows/etl",
        "source": SourceRef("flows/etl/deployment.yaml"),
        "version": "0123456789ab",
    }
    return DeploymentSpec(**{**base, **fields})  # type: ignore[arg-type]


STAMP = Stamp("team-a", "0123456789ab" + "c" * 28, "file:///store/ab/abc.tar.gz")
GIT = CodeSource("git", "https://bot:s3cret@git.example.com/org/repo.git", "", "main", "env:GIT_TOKEN")


def test_git_mode_clones_the_commit_with_a_credential_reference_never_the_token() -> None:
    body = to_api(spec(), STAMP, GIT)
    clone, workdir = body["pull_steps"]
    assert clone[f"{STEPS}git_clone"]["commit_sha"] == STAMP.commit
    assert clone[f"{STEPS}git_clone"]["access_token"] == "{{ $GIT_TOKEN }}"
    assert (
        workdir[f"{STEPS}set_working_directory"]["directory"] == "{{ deployctl-clone.directory }}/flows/etl"
    )
    assert body["version_info"]["url"] == "https://git.example.com/org/repo.git"
    assert "s3cret" not in str(body["version_info"])


def test_secret_block_credentials_and_a_bad_reference() -> None:
    body = to_api(spec(), STAMP, CodeSource("git", "https://h/r.git", "sub", "main", "block:git-token"))
    clone, workdir = body["pull_steps"]
    assert clone[f"{STEPS}git_clone"]["access_token"] == "{{ prefect.blocks.secret.git-token }}"
    assert workdir[f"{STEPS}set_working_directory"]["directory"].endswith("/sub/flows/etl")
    with pytest.raises(ValueError, match="block:SECRET_BLOCK_NAME or env:VARIABLE, never the token"):
        to_api(spec(), STAMP, CodeSource("git", "https://h/r.git", credentials="ghp_literal"))


def test_storage_mode_pulls_the_content_addressed_artifact() -> None:
    (unpack,) = to_api(spec(), STAMP, CodeSource("storage"))["pull_steps"]
    script = unpack[f"{STEPS}run_shell_script"]["script"]
    assert script.startswith("python -c ") and script.endswith(f" {STAMP.artifact_uri}")


def test_schedules_get_stable_slugs_and_paused_is_carried() -> None:
    schedules = (
        ScheduleSpec(ScheduleKind.CRON, cron="0 * * * *"),
        ScheduleSpec(ScheduleKind.INTERVAL, interval_seconds=600.0, anchor_date="2024-01-01T00:00:00+00:00"),
        ScheduleSpec(ScheduleKind.RRULE, rrule="FREQ=DAILY", slug="mine", active=False),
    )
    body = to_api(spec(schedules=schedules, paused=True), STAMP, GIT)
    assert [s["slug"] for s in body["schedules"]] == ["schedule-0", "schedule-1", "mine"]
    assert body["schedules"][1]["schedule"] == {
        "interval": 600.0,
        "timezone": "UTC",
        "anchor_date": "2024-01-01T00:00:00+00:00",
    }
    assert body["paused"] is True and body["schedules"][2]["active"] is False


def test_process_infrastructure_and_dotted_overrides_become_job_variables() -> None:
    infra = InfrastructureSpec("process", None, {"env": {"A": "1"}, "stream_output": False, "command": None})
    body = to_api(spec(infrastructure=infra, job_variables={"env": {"B": "2"}}), STAMP, GIT)
    assert body["job_variables"] == {"env": {"A": "1", "B": "2"}, "stream_output": False}


def test_parameter_schema_never_has_an_empty_required() -> None:
    assert parameter_schema({}) == {"type": "object", "properties": {}}
    assert parameter_schema({"type": "object", "required": []}) == {"type": "object"}
    assert parameter_schema({"required": ["n"]}) == {"required": ["n"]}


def test_a_patch_carries_only_changed_fields_and_schedules() -> None:
    old = to_api(spec(schedules=(ScheduleSpec(ScheduleKind.CRON, cron="0 * * * *"),)), STAMP, GIT)
    two = (
        ScheduleSpec(ScheduleKind.CRON, cron="0 * * * *"),
        ScheduleSpec(ScheduleKind.CRON, cron="5 * * * *"),
    )
    new = to_api(spec(parameters={"n": 2}, schedules=two), STAMP, GIT)
    patch = changed_fields(old, new)
    assert set(patch) == {"parameters", "schedules"}
    assert [s["slug"] for s in patch["schedules"]] == ["schedule-1"]
    assert changed_fields(new, new) == {}


def test_without_credentials() -> None:
    assert without_credentials("https://u:p@h.example/r.git") == "https://h.example/r.git"
    assert without_credentials("/srv/repo") == "/srv/repo"


def test_registry_urls_environment_and_the_active_profile(tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        'active = "team"\n[profiles.team]\nPREFECT_API_URL = "https://api.example/api/accounts/a/workspaces/w"\n'
        'PREFECT_API_KEY = "pnu_profile"\n'
    )
    from_profile = resolve_server("prefect", {"PREFECT_HOME": str(home)})
    assert from_profile.api_key == "pnu_profile" and from_profile.is_cloud
    from_env = resolve_server("prefect", {"PREFECT_HOME": str(home), "PREFECT_API_URL": "http://h:1/api"})
    assert from_env.api_url == "http://h:1/api" and from_env.api_key == "pnu_profile"
    named = resolve_server("prefect+http://127.0.0.1:4200/api/", {"PREFECT_HOME": str(tmp_path / "none")})
    assert (named.api_url, named.api_key) == ("http://127.0.0.1:4200/api", None)
    with pytest.raises(ConfigError, match="set PREFECT_API_URL"):
        resolve_server("prefect", {"PREFECT_HOME": str(tmp_path / "none")})
    with pytest.raises(ConfigError, match="is not supported"):
        resolve_server("prefect+ftp://h", {})


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    first, later = backoff(1, None), backoff(4, None)
    assert 0.12 <= first <= 0.18 and 9.6 <= later <= 14.4
    assert 7.0 <= backoff(1, "7") <= 7.0 * 1.2
    assert backoff(1, "Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
