"""A prefect.yaml of many deployments, written the way Prefect 3 projects hold them, for the
one-change-one-write tests of both backends."""

from __future__ import annotations

FLOW = "from prefect import flow\n\n\n@flow(name='{name}')\ndef run(n: int = 1) -> int:\n    return n\n"


def entry(
    name: str, n: int, entrypoint: str = "flow.py:run", code: str | None = None, pool: str | None = None
) -> str:
    """One deployment entry; ``n`` is its parameter, so an edit of one entry is a new ``n``."""
    folder = f"  code: {code}\n" if code else ""
    work_pool = f"  work_pool: {{name: {pool}}}\n" if pool else ""
    return (
        f"- name: {name}\n  entrypoint: {entrypoint}\n{folder}{work_pool}  tags: [many]\n"
        f"  parameters: {{n: {n}}}\n  schedules:\n  - cron: '0 * * * *'\n"
    )


def project(entries: list[str]) -> str:
    return "name: many\nprefect-version: 3.9.1\ndeployments:\n" + "".join(entries)
