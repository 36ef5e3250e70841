"""Fuzz: mutated valid manifests give specs or diagnostics with a line, never a crash.

Byte, line, type and structure mutations of valid manifests run in-process through loading and
through what ``plan`` adds (records and their digests); a handful of known crashers run
through the real ``deployctl validate`` and ``deployctl plan``, which must agree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.records import canonical_json, from_record, record_digest, to_record
from controller.loading.loader import LoadResult, load_manifests
from tests.gitrepo import GitRepo

pytestmark = pytest.mark.stress

FLOWS = b"from prefect import flow\n\n\n@flow\ndef my_flow(name='world', n: int = 1):\n    print(name, n)\n"
BLOCK = b"""name: daily
flow_name: my-flow
entrypoint: flows.py:my_flow
description: Daily run
tags: [etl, prod]
parameters:
  name: x
  n: 3
schedules:
- schedule:
    cron: '0 3 * * *'
    timezone: Europe/Berlin
  active: true
- schedule:
    interval: 3600
    anchor_date: '2024-01-01T00:00:00+00:00'
infra_overrides:
  env.LOG_LEVEL: DEBUG
infrastructure:
  type: process
  env: {A: b}
  stream_output: true
"""
PROJECT = b"""name: proj
definitions:
  tags: &tags [a, b]
deployments:
- name: one
  entrypoint: flows.py:my_flow
  tags: *tags
  parameters: {name: y}
  schedules:
  - rrule: FREQ=DAILY;BYHOUR=4
    timezone: UTC
  - cron: '*/5 * * * *'
    slug: five
  work_pool:
    name: pool
    job_variables: {env: {X: '1'}}
- name: two
  entrypoint: flows.py:my_flow
  schedule: {interval: PT1H}
  paused: true
  concurrency_limit: 2
"""
OLD_BLOCK = b"""name: old
flow_name: my-flow
entrypoint: flows.py:my_flow
schedule:
  interval: 86400
  timezone: America/New_York
is_schedule_active: false
parameters: {}
"""
SEEDS = {"a/deployment.yaml": BLOCK, "b/prefect.yaml": PROJECT, "c/deployment.yaml": OLD_BLOCK}
HEALTHY = ("healthy/deployment.yaml", b"name: keep\nflow_name: kept\nentrypoint: flows.py:my_flow\n")

TRICKY_SCALARS = [
    "2024-01-01",
    "2024-02-30",
    "2024-01-01 10:00:00Z",
    "!!bool maybe",
    "9" * 5000,
    "0x" + "f" * 4000,
    ".inf",
    "-.nan",
    "1e999",
    "~",
    "[]",
    "{}",
    "hourly",
    "P99999999999W",
    "0.000001",
    "-1",
    "0",
    "'{{ $DEPLOYCTL_GIT_TOKEN }}'",
    "'{{ $UNSET_VAR }}'",
    "!!binary aGk=",
    "!!set {a: null}",
    "!!int x",
    "!!float y",
    "!!timestamp z",
    "FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30",
    "'61 * * * *'",
    "{env: x, env.A: b}",
    "{1: a, b: c}",
    "{null: 1, true: 2}",
    "[[[[]]]]",
    "&x [*x]",
    "'\\x00'",
    "Europe/Berln",
    "yes",
    "no",
    "on",
    "12:30:00",
    "1_000",
    "0o17",
    "-0",
    "''",
    "'a:b'",
    "*undefined",
]
KEYS = [
    "name",
    "flow_name",
    "entrypoint",
    "schedule",
    "schedules",
    "parameters",
    "tags",
    "interval",
    "cron",
    "rrule",
    "anchor_date",
    "timezone",
    "infra_overrides",
    "job_variables",
    "infrastructure",
    "description",
    "version",
    "paused",
    "active",
    "slug",
    "work_pool",
    "deployments",
    "env",
    "<<",
    "is_schedule_active",
    "enforce_parameter_schema",
    "parameter_openapi_schema",
    "concurrency_limit",
    "shedule",
    "1",
    "null",
]


class MemoryTree:
    """An in-memory ``SourceTree`` (our own seam), so thousands of cases cost no disk writes."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self._files = dict(files)

    def files(self) -> Sequence[str]:
        return sorted(self._files)

    def read(self, path: str) -> bytes:
        return self._files[path]

    def symlinks(self) -> Mapping[str, str]:
        return {}

    def content_id(self, path: str) -> str | None:
        return None


def _lines(draw: st.DrawFn, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    j = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["drop", "dup", "swap", "indent", "dedent", "move"]))
    if how == "drop":
        del lines[i]
    elif how == "dup":
        lines.insert(j, lines[i])
    elif how == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "indent":
        lines[i] = b"  " + lines[i]
    elif how == "dedent":
        lines[i] = lines[i].lstrip()
    else:
        lines.insert(j, lines.pop(i))
    return b"\n".join(lines)


def _bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    at = draw(st.integers(0, len(raw)))
    junk = draw(
        st.binary(min_size=0, max_size=4) | st.sampled_from([b":", b"-", b"[", b"{", b"&", b"*", b"'"])
    )
    cut = draw(st.integers(0, 3))
    return raw[:at] + junk + raw[at + cut :]


def _types(draw: st.DrawFn, raw: bytes) -> bytes:
    values = list(re.finditer(rb"(?m)(:[ ]+|- )([^\n]*)$", raw))
    if not values:
        return raw
    match = draw(st.sampled_from(values))
    value = draw(st.sampled_from(TRICKY_SCALARS)).encode()
    return raw[: match.start(2)] + value + raw[match.end(2) :]


def _structure(draw: st.DrawFn, raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    i = draw(st.integers(0, len(lines) - 1))
    indent = len(lines[i]) - len(lines[i].lstrip())
    key = draw(st.sampled_from(KEYS)).encode()
    value = draw(st.sampled_from(TRICKY_SCALARS + ["", "\n  - a", "\n  x: 1", "[1, {a: b}]"])).encode()
    how = draw(st.sampled_from(["insert", "nest", "listify"]))
    pad = b" " * indent
    if how == "insert":
        lines.insert(i, pad + key + b": " + value)
    elif how == "nest":
        lines.insert(i + 1, pad + b"  " + key + b": " + value)
    else:
        lines[i] = pad + b"- " + lines[i].lstrip()
    return b"\n".join(lines)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(sorted(SEEDS)))
    raw = SEEDS[path]
    for _ in range(draw(st.integers(1, 3))):
        mutate = draw(st.sampled_from([_bytes, _lines, _types, _structure]))
        raw = mutate(draw, raw)
    return path, raw


def load_and_record(files: Mapping[str, bytes]) -> LoadResult:
    """Loading as ``validate`` runs it, plus what ``plan`` adds: records and digests."""
    result = load_manifests(MemoryTree(files), env={"HOME": "/home/u", "DEPLOYCTL_GIT_TOKEN": "secret"})
    for spec in result.specs.values():
        record = to_record(spec)
        record_digest(record)
        assert canonical_json(to_record(from_record(record))) == canonical_json(record)
    return result


def check_one(path: str, raw: bytes) -> None:
    folder = path.split("/")[0]
    files = {path: raw, f"{folder}/flows.py": FLOWS, HEALTHY[0]: HEALTHY[1], "healthy/flows.py": FLOWS}
    started = time.perf_counter()
    result = load_and_record(files)
    assert time.perf_counter() - started < 1.0, f"loading took over 1 s: {raw[:200]!r}"
    assert any(s.name == "keep" for s in result.specs.values()), "a broken file hid a healthy one"
    for diagnostic in result.diagnostics:
        assert diagnostic.line >= 1, f"no line for {diagnostic} in {raw[:300]!r}"
        assert diagnostic.code != "internal-error", f"{diagnostic} in {raw[:300]!r}"
        assert diagnostic.file == path, diagnostic
    assert b"secret" not in canonical_json([to_record(s) for s in result.specs.values()]).encode()


def test_seeds_are_valid() -> None:
    for path, raw in SEEDS.items():
        folder = path.split("/")[0]
        result = load_and_record({path: raw, f"{folder}/flows.py": FLOWS})
        assert result.ok and result.specs, result.diagnostics


@settings(
    max_examples=2500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(case=mutated())
def test_mutated_manifests_give_diagnostics_with_lines(case: tuple[str, bytes]) -> None:
    check_one(*case)


CRASHERS = {
    "schedule-word": b"schedule: hourly\n",
    "anchor-date": b"schedule:\n  interval: 60\n  anchor_date: 2024-01-01\n",
    "impossible-date": b"description: 2024-02-30\n",
    "bad-bool": b"description: !!bool maybe\n",
    "huge-int": b"parameters:\n  n: " + b"9" * 5000 + b"\n",
    "override-conflict": b"infra_overrides: {env: x, env.A: b}\n",
    "huge-interval": b"schedule:\n  interval: P99999999999W\n",
    "date-parameter": b"parameters: {start: 2024-01-01}\n",
    "infinite-interval": b"schedule:\n  interval: .inf\n",
    "tiny-interval": b"schedule:\n  interval: 0.000001\n",
    "empty-rrule": b"schedule:\n  rrule: FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30\n",
}


@pytest.mark.parametrize("name", sorted(CRASHERS))
def test_known_crashers_are_diagnostics(name: str) -> None:
    base = b"name: x\nflow_name: f\nentrypoint: flows.py:my_flow\n"
    check_one("a/deployment.yaml", base + CRASHERS[name])


def _deployctl(home: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")} | {"HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_validate_and_plan_agree_on_crashers_through_the_cli(tmp_path: Path) -> None:
    """The real command, HOME only, relative paths, started from another folder."""
    base = "name: x\nflow_name: f\nentrypoint: flows.py:my_flow\n"
    chosen = ["date-parameter", "huge-int", "impossible-date", "bad-bool", "anchor-date"]
    repo = GitRepo(tmp_path / "work" / "repo")
    files = {
        f"{n}/deployment.yaml": base.replace("name: x", f"name: {n}") + CRASHERS[n].decode() for n in chosen
    }
    repo.write({**files, **{f"{n}/flows.py": FLOWS.decode() for n in chosen}}).commit()
    for name in chosen:
        sub = f"repo/{name}"
        validated = _deployctl(tmp_path / "home", tmp_path / "work", "validate", sub)
        planned = _deployctl(tmp_path / "home", tmp_path / "work", "plan", "repo", "--path", name)
        for done in (validated, planned):
            assert "Traceback" not in done.stderr + done.stdout, done.stderr
            assert done.returncode in (0, 1, 2), done.stderr
        assert (validated.returncode == 0) == (planned.returncode in (0, 1)), (name, validated, planned)
        if validated.returncode == 2:
            assert re.search(r"^deployment.yaml:\d+:\d+: ", validated.stderr, re.M), validated.stderr
            assert re.search(r"^deployment.yaml:\d+:\d+: ", planned.stdout, re.M), planned.stdout
        assert validated.returncode == (
            0 if name in ("date-parameter", "impossible-date", "anchor-date") else 2
        )
    assert not (tmp_path / "work" / "repo" / ".deployctl").exists()
