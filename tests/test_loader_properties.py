"""Property: whatever bytes a manifest holds, loading returns specs or diagnostics, never raises."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.diagnostics import Diagnostic, Severity
from controller.loading.loader import load_manifests
from controller.loading.manifests import parse_manifest
from controller.loading.models.repo_settings import DeploymentDefaults
from controller.loading.tree import DirectoryTree

YAML_ISH = st.lists(
    st.sampled_from(
        [
            "name: ",
            "flow_name: ",
            "entrypoint: ",
            "flows.py:my_flow",
            "schedule:",
            "schedules:",
            "\n",
            "\n  ",
            "- ",
            "cron: ",
            "'0 * * * *'",
            "interval: ",
            "rrule: ",
            "&a ",
            "*a ",
            "[",
            "]",
            "{",
            "}",
            ": ",
            ",",
            "!!python/object ",
            "---\n",
            "'",
            '"',
            "#",
            "<<: ",
            "null",
            "true",
            "3600",
            "\t",
            "\xe9",
            "{{ $HOME }}",
            "deployments:",
            "timezone: ",
        ]
    )
    | st.text(max_size=8),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAML_ISH, raw_tail=st.binary(max_size=16), project=st.booleans())
def test_random_manifests_never_crash_the_parser(text: str, raw_tail: bytes, project: bool) -> None:
    path = "prefect.yaml" if project else "deployment.yaml"
    result = parse_manifest(path, text.encode() + raw_tail, DeploymentDefaults(), env={"HOME": "/h"})
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    assert bool(result.specs) != bool(errors) or (not result.specs and not errors and project)
    for diagnostic in result.diagnostics:
        assert isinstance(diagnostic, Diagnostic) and diagnostic.file == path and diagnostic.message


@settings(max_examples=60, deadline=None)
@given(text=YAML_ISH)
def test_random_manifest_in_a_tree_never_crashes_the_loader(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "flows.py").write_text("def my_flow():\n    pass\n")
        (root / "deployment.yaml").write_text(text, errors="surrogateescape")
        result = load_manifests(DirectoryTree(root), env={})
        assert result.specs or result.diagnostics
