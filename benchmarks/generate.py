"""Generates a repository of N realistic deployments for the benchmarks (one folder each)."""

from __future__ import annotations

from pathlib import Path

FLOW = "def run(n: int = 1):\n    return n\n"
_ITEM = "schedules:\n- schedule:\n{body}    timezone: {zone}\n  active: true\n"
SCHEDULES = (
    _ITEM.format(body="    cron: '{m} * * * *'\n    day_or: true\n", zone="Europe/Berlin"),
    _ITEM.format(body="    interval: 3600.0\n    anchor_date: 2024-01-01T00:{m:02d}:00+00:00\n", zone="UTC"),
    _ITEM.format(body="    rrule: FREQ=DAILY;BYHOUR=6;BYMINUTE={m}\n", zone="UTC"),
)


def manifest(i: int, hourly: bool = False) -> str:
    return f"""###
### A complete description of a Prefect Deployment for flow 'flow-{i % 97}'
###
name: deployment-{i}
description: Generated deployment number {i}.
version: null
work_queue_name: default
work_pool_name: null
tags:
- team-{i % 7}
- bench
parameters:
  n: {i}
schedule: null
{SCHEDULES[0 if hourly else i % 3].format(m=i % 60)}is_schedule_active: true
infra_overrides:
  env.INDEX: '{i}'
infrastructure:
  type: process
  env: {{}}
  labels: {{}}
  name: null
  command: null
  stream_output: true
  working_dir: null
  block_type_slug: process
  _block_type_slug: process
flow_name: flow-{i % 97}
manifest_path: null
storage: null
path: /home/someone/project
entrypoint: flow.py:run
parameter_openapi_schema:
  title: Parameters
  type: object
  properties:
    n:
      title: n
      default: 1
      position: 0
      type: integer
  required: null
  definitions: null
timestamp: '2024-03-01T10:00:00+00:00'
triggers: []
enforce_parameter_schema: null
"""


def write_repository(root: Path, count: int, hourly: bool = False) -> list[Path]:
    """``count`` deployments, one folder each; ``hourly``: every one on an hourly cron."""
    manifests = []
    for i in range(count):
        folder = root / "flows" / f"d{i // 100:03d}" / f"deployment-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "flow.py").write_text(FLOW)
        path = folder / "deployment.yaml"
        path.write_text(manifest(i, hourly))
        manifests.append(path)
    return manifests
