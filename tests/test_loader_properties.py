"""Properties: whatever bytes a manifest holds, loading returns specs or diagnostics, never
raises; and the one-walk builder of documents without anchors makes what pyyaml's would."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.core.diagnostics import Diagnostic, Severity
from controller.loading.loader import load_manifests
from controller.loading.manifests import parse_manifest
from controller.loading.models.repo_settings import DeploymentDefaults
from controller.loading.safe_yaml import ParsedYaml, parse_yaml
from controller.loading.tree import DirectoryTree
from controller.loading.yaml_values import ManifestLoader

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


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["1", "true", "no", "0x1f", "1_000", "0o17", "12:30", "2024-01-01", "2024-02-30", ""])
    | st.text(max_size=6)
)
KEYS = st.text(max_size=4) | st.integers(-3, 3) | st.booleans() | st.none() | st.floats(-2, 2)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


def _pyyaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=ManifestLoader)  # noqa: S506 - the safe C loader
    except yaml.YAMLError:
        return "refused"


def _built(text: str) -> object:
    parsed = parse_yaml(text.encode())
    return parsed.data if isinstance(parsed, ParsedYaml) else "refused"


@settings(max_examples=300, deadline=None)
@given(value=VALUES, flow=st.sampled_from([None, True, False]))
def test_documents_without_anchors_are_built_as_pyyaml_builds_them(value: object, flow: bool | None) -> None:
    text = yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True)
    built = _built(text)
    assert built != "refused"
    assert built == _pyyaml(text)


@settings(max_examples=300, deadline=None)
@given(text=YAML_ISH.filter(lambda t: "&" not in t and "<<" not in t))
def test_random_text_is_accepted_or_refused_as_pyyaml_does(text: str) -> None:
    assert _built(text) == _pyyaml(text)


TAGGED = [
    "x: !!str {a: 1}",
    "x: !!str [a]",
    "x: !!omap foo",
    "x: !!pairs foo",
    "x: !!map foo",
    "x: !!seq {a: 1}",
    "x: !!map [a]",
    "x: !!null {a: 1}",
    "{!!omap x: 1}",
    "x: !!omap [{a: 1}]",
    "=: 1\nx: " + "[" * 70 + "]" * 70,
    "=: 1\nx: y",
    "1: a\ntrue: b\n1.0: c",
    "x: !foo bar",
    "x: !!binary aGk=",
    "x: !!set {a}",
]


@pytest.mark.parametrize("text", TAGGED)
def test_tags_and_keys_the_one_walk_leaves_to_pyyaml_give_what_pyyaml_gives(text: str) -> None:
    built = parse_yaml(text.encode())
    expected = _pyyaml(text)
    if isinstance(built, ParsedYaml):
        assert built.data == expected
    else:
        assert expected == "refused" or built.code == "too-deep", (text, built)
