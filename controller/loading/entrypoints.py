"""Checks that each deployment's entrypoint and code folder are real and stay in the tree.

An entrypoint ``path/file.py:function`` resolves against the deployment's code folder; the
file must exist there, define the function at top level, and neither it nor the code folder
may reach outside the repository (``..``, absolute paths, symlinks). Also derives a flow's
name from its ``@flow(name=...)`` when a prefect.yaml omits ``flow_name``. The source is
read as text, never imported. Called by ``controller.loading.loader``.
"""

from __future__ import annotations

import ast
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from controller.core.spec import DeploymentSpec
from controller.loading.signature import FlowSignature, find_function, read_signature
from controller.loading.tree import SourceTree, escapes_root


@dataclass(frozen=True)
class EntrypointProblem:
    field: str
    code: str
    message: str


def resolve_entrypoint_path(spec: DeploymentSpec) -> str:
    return posixpath.normpath(posixpath.join(spec.code_dir, spec.entrypoint_file))


def check_entrypoint(
    spec: DeploymentSpec, tree: SourceTree, files: frozenset[str], outside_links: Mapping[str, str]
) -> EntrypointProblem | bytes:
    """The entrypoint's problem, or the source of its file when the entrypoint is sound."""
    if ":" not in spec.entrypoint or not spec.entrypoint_function:
        return EntrypointProblem(
            "entrypoint",
            "entrypoint-format",
            f"entrypoint '{spec.entrypoint}' must look like path/to/file.py:function",
        )
    relative = spec.entrypoint_file
    if relative.startswith("/") or escapes_root(posixpath.join(spec.code_dir, relative)):
        return EntrypointProblem(
            "entrypoint",
            "path-escape",
            f"entrypoint '{spec.entrypoint}' "
            "points outside the repository: use a path inside the manifest's folder",
        )
    link = _escaping_link_on_path(resolve_entrypoint_path(spec), outside_links)
    if link is None:
        link = _escaping_link_below(spec.code_dir, outside_links)
    if link is not None:
        return EntrypointProblem(
            "entrypoint",
            "path-escape",
            f"symlink '{link}' -> "
            f"'{outside_links[link]}' leads outside the repository: the code "
            "folder must be self-contained; copy the file in instead",
        )
    path = resolve_entrypoint_path(spec)
    if path not in files:
        return EntrypointProblem(
            "entrypoint",
            "entrypoint-missing",
            f"entrypoint file "
            f"'{relative}' does not exist in '{spec.code_dir}/' "
            "(it is resolved against the manifest's folder)",
        )
    source = tree.read(path)
    if not defines_function(source, spec.entrypoint_function):
        return EntrypointProblem(
            "entrypoint",
            "entrypoint-missing",
            f"'{relative}' defines no top-level function '{spec.entrypoint_function}'",
        )
    return source


def _escaping_link_on_path(path: str, links: Mapping[str, str]) -> str | None:
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        prefix = "/".join(parts[:end])
        if prefix in links:
            return prefix
    return None


def _escaping_link_below(folder: str, links: Mapping[str, str]) -> str | None:
    if not links:
        return None
    prefix = "" if folder == "." else folder + "/"
    return next((link for link in sorted(links) if link.startswith(prefix)), None)


def _definition(function: str) -> re.Pattern[bytes]:
    name = re.escape(function.encode())
    return re.compile(
        rb"^(?:async[ \t]+)?def[ \t]+" + name + rb"[ \t]*\(|^" + name + rb"[ \t]*=", re.MULTILINE
    )


def defines_function(source: bytes, function: str) -> bool:
    return _definition(function).search(source) is not None


FLOW_OPTIONS = ("name", "description", "retries", "retry_delay_seconds", "timeout_seconds")


@dataclass(frozen=True)
class FlowInfo:
    """What the entrypoint's ``@flow(...)`` and signature say, read without importing it.

    ``description`` is ``@flow(description=...)`` else the docstring, as Prefect's Flow takes it;
    ``signature`` is None when the file was not parsed (no ``@flow`` in it)."""

    name: str
    options: dict[str, object]
    description: str | None = None
    signature: FlowSignature | None = None


def flow_info(source: bytes, function: str) -> FlowInfo:
    """The flow name Prefect would use (``@flow(name=...)``, else the function name with - for _),
    the literal retries / retry_delay_seconds / timeout_seconds of its decorator, its
    description and its parameter schema."""
    default = FlowInfo(function.replace("_", "-"), {})
    if b"flow" not in source or b"@" not in source:
        return default
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return default
    node = find_function(tree, function)
    if node is None:
        return default
    signature = read_signature(tree, node)
    for decorator in node.decorator_list:
        options = _flow_decorator_options(decorator)
        if options is not None:
            name = options.pop("name", None)
            described = options.pop("description", None)
            description = described if isinstance(described, str) else signature.docstring
            return FlowInfo(name if isinstance(name, str) else default.name, options, description, signature)
    return FlowInfo(default.name, {}, signature.docstring, signature)


def _flow_decorator_options(decorator: ast.expr) -> dict[str, object] | None:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    named = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    if named != "flow":
        return None
    options: dict[str, object] = {}
    for keyword in decorator.keywords if isinstance(decorator, ast.Call) else []:
        if keyword.arg in FLOW_OPTIONS:
            try:
                options[keyword.arg] = ast.literal_eval(keyword.value)
            except ValueError:
                continue  # computed at import time: deployctl does not run code to find out
    return options
