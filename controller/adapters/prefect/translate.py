"""Translation between deployctl's ``DeploymentSpec`` and Prefect 3's deployment API JSON.

Pure (no I/O). ``to_api`` gives the body of a create; ``changed_fields`` the body of a PATCH
with only what differs; ``server_view`` the part of a server's answer that deployctl manages,
so a plan compares like with like. Called by ``PrefectRegistry``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from controller.core.parameter_schema import normalise_parameter_schema
from controller.core.spec import DeploymentSpec, ScheduleKind, ScheduleSpec

OWNER_TAG_PREFIX = "deployctl-owner:"
UNPACK = (
    '"import fsspec, io, sys, tarfile; '
    'tarfile.open(fileobj=io.BytesIO(fsspec.open(sys.argv[1]).open().read())).extractall()"'
)
STEPS = "prefect.deployments.steps."
# Job variables of Prefect's process worker; other keys of an inline Process block stay out.
PROCESS_JOB_VARIABLES = frozenset({"command", "env", "labels", "name", "stream_output", "working_dir"})
# Server-owned or volatile fields, left out of the view that decides drift.
VOLATILE = frozenset(
    {
        "id",
        "created",
        "updated",
        "last_polled",
        "status",
        "work_queue_id",
        "created_by",
        "updated_by",
        "labels",
        "flow_id",
        "global_concurrency_limit",
    }
)
VOLATILE_SCHEDULE = frozenset({"id", "created", "updated", "deployment_id"})


@dataclass(frozen=True)
class CodeSource:
    """Where Prefect's workers fetch a deployment's code: ``git`` (clone at the commit) or
    ``storage`` (the content-addressed artifact). ``credentials``: ``block:NAME`` (a Secret
    block) or ``env:VAR`` (an environment variable on the worker); never a token itself."""

    mode: str = "git"
    repo_url: str = ""
    sub_path: str = ""
    branch: str = ""
    credentials: str | None = None


@dataclass(frozen=True)
class Stamp:
    """What one apply knows beyond the spec: the owner, the deployment's commit, its artifact."""

    owner: str
    commit: str
    artifact_uri: str
    version_info: bool = True


def owner_tag(owner: str) -> str:
    return f"{OWNER_TAG_PREFIX}{owner}"


def owner_of(tags: list[str]) -> str | None:
    return next((t.removeprefix(OWNER_TAG_PREFIX) for t in tags if t.startswith(OWNER_TAG_PREFIX)), None)


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def to_api(spec: DeploymentSpec, stamp: Stamp, code: CodeSource) -> dict[str, Any]:
    """The full state of a deployment as Prefect 3's ``DeploymentCreate`` (without ``flow_id``)."""
    body: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "version": spec.version,
        "tags": sorted({*spec.tags, owner_tag(stamp.owner)}),
        "parameters": spec.parameters,
        "schedules": [schedule_body(s, i) for i, s in enumerate(spec.schedules)],
        "paused": spec.paused,
        "concurrency_limit": spec.concurrency_limit,
        "work_queue_name": spec.work_queue_name,
        "job_variables": job_variables(spec),
        "parameter_openapi_schema": parameter_schema(spec.parameter_openapi_schema),
        "enforce_parameter_schema": spec.enforce_parameter_schema,
        "entrypoint": spec.entrypoint,
        "pull_steps": pull_steps(spec, stamp, code),
    }
    if spec.work_pool_name:
        body["work_pool_name"] = spec.work_pool_name
    if stamp.version_info and spec.version:
        body["version_info"] = {
            "type": "vcs:git",
            "version": spec.version,
            "commit_sha": stamp.commit,
            "branch": code.branch,
            "url": without_credentials(code.repo_url),
        }
    return body


def schedule_slug(schedule: ScheduleSpec, index: int) -> str:
    """The slug by which a schedule is updated in place, so its id and future runs survive."""
    return schedule.slug or f"schedule-{index}"


def schedule_body(schedule: ScheduleSpec, index: int) -> dict[str, Any]:
    inner: dict[str, Any]
    if schedule.kind is ScheduleKind.CRON:
        inner = {"cron": schedule.cron, "timezone": schedule.timezone, "day_or": schedule.day_or}
    elif schedule.kind is ScheduleKind.INTERVAL:
        inner = {"interval": schedule.interval_seconds, "timezone": schedule.timezone}
        if schedule.anchor_date:
            inner["anchor_date"] = schedule.anchor_date
    else:
        inner = {"rrule": schedule.rrule, "timezone": schedule.timezone}
    return {
        "schedule": inner,
        "active": schedule.active,
        "slug": schedule_slug(schedule, index),
        "parameters": schedule.parameters,
    }


def job_variables(spec: DeploymentSpec) -> dict[str, Any]:
    """An inline Process block's settings (those it sets) become job variables; overrides win,
    merged into a mapping like ``env`` key by key, as Prefect 2's dotted ``infra_overrides`` did."""
    out: dict[str, Any] = {}
    if spec.infrastructure.type == "process" and not spec.infrastructure.block_name:
        out = {
            k: v
            for k, v in spec.infrastructure.settings.items()
            if k in PROCESS_JOB_VARIABLES and v is not None and v != {}
        }
    for key, value in spec.job_variables.items():
        inherited = out.get(key)
        if isinstance(inherited, dict) and isinstance(value, dict):
            out[key] = {**inherited, **value}
        else:
            out[key] = value
    return out


def parameter_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as Prefect 3's client sends it (no null keywords, no empty ``required``,
    shared models under ``definitions``): the server refuses Prefect 2's ``definitions: null``."""
    return normalise_parameter_schema(schema)


def pull_steps(spec: DeploymentSpec, stamp: Stamp, code: CodeSource) -> list[dict[str, Any]]:
    user_steps = getattr(spec, "pull_steps", None)
    if user_steps:
        return list(user_steps)
    folder = posixpath.normpath(posixpath.join(code.sub_path or ".", spec.code_dir or "."))
    if code.mode == "storage":
        # pull_from_remote_storage copies folders only; the artifact is one tarball, so the
        # worker's Python fetches it with fsspec (a Prefect dependency) and unpacks it here.
        return [{f"{STEPS}run_shell_script": {"script": f"python -c {UNPACK} {stamp.artifact_uri}"}}]
    clone: dict[str, Any] = {
        "id": "deployctl-clone",
        "repository": code.repo_url,
        "commit_sha": stamp.commit,
    }
    if code.credentials:
        clone["access_token"] = credential_reference(code.credentials)
    directory = "{{ deployctl-clone.directory }}"
    if folder != ".":
        directory += f"/{folder}"
    return [
        {f"{STEPS}git_clone": clone},
        {f"{STEPS}set_working_directory": {"directory": directory}},
    ]


def credential_reference(credentials: str) -> str:
    """A template Prefect's worker resolves at run time; the secret never enters the deployment."""
    kind, _, name = credentials.partition(":")
    if kind == "block" and name:
        return f"{{{{ prefect.blocks.secret.{name} }}}}"
    if kind == "env" and name:
        return f"{{{{ ${name} }}}}"
    # Never echo the value: it may be the very token that must not be written anywhere.
    raise ValueError("use block:SECRET_BLOCK_NAME or env:VARIABLE, never the token itself")


def changed_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The PATCH body: top-level fields that differ, and only the schedules that changed."""
    patch = {k: v for k, v in new.items() if k not in ("name", "schedules") and old.get(k) != v}
    old_schedules = {s["slug"]: s for s in old.get("schedules", [])}
    changed = [s for s in new.get("schedules", []) if old_schedules.get(s["slug"]) != s]
    if changed:
        patch["schedules"] = changed
    return patch


def removed_schedules(old_slugs: set[str], new: dict[str, Any]) -> set[str]:
    return old_slugs - {s["slug"] for s in new.get("schedules", [])}


def server_view(deployment: dict[str, Any]) -> dict[str, Any]:
    """The managed part of a deployment as the server returns it: schedules by slug."""
    view = {k: v for k, v in deployment.items() if k not in VOLATILE}
    view["schedules"] = sorted(
        ({k: v for k, v in s.items() if k not in VOLATILE_SCHEDULE} for s in deployment.get("schedules", [])),
        key=lambda s: str(s.get("slug")),
    )
    view["tags"] = sorted(deployment.get("tags", []))
    return view


def view_digest(deployment: dict[str, Any]) -> str:
    text = json.dumps(server_view(deployment), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
