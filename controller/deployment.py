"""``controller.Deployment``: Prefect 2's Python ``Deployment`` for scripts, writing the file to commit.

``Deployment.build_from_flow(flow, name, schedules=…, parameters=…, work_queue_name=…, tags=…,
infra_overrides=…)`` takes the seed's field names; ``to_yaml(path)`` writes the deployment.yaml
(an existing one keeps everything but the fields given), and ``load_yaml(path)`` reads one back,
checked as a sync would check it. The flow is read as text, never imported: pass
``"path/to/flows.py:function"`` or the function (or Prefect flow) itself. There is no
``apply()``: commit the file and sync it (``deployctl deployment apply FILE``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from controller.errors import UsageError

# build_from_flow's keywords: the names of the fields they set in the file.
_FIELDS = (
    "description", "version", "tags", "work_queue_name", "work_pool_name", "parameters",
    "is_schedule_active", "infra_overrides", "infrastructure", "storage", "path",
    "enforce_parameter_schema",
)  # fmt: skip


class Deployment:
    """One deployment.yaml's fields; read them as attributes (``d.name``, ``d.schedules``)."""

    def __init__(
        self,
        fields: Mapping[str, Any],
        named: Mapping[str, Any] | None = None,
        flow: tuple[Path, str] | None = None,
    ) -> None:
        """``named``: the fields given to ``build_from_flow`` (the ones ``to_yaml`` changes in an
        existing file); ``flow``: the flow's file and function."""
        self._fields, self._named, self._flow = dict(fields), dict(named or {}), flow

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_fields"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"Deployment({self._fields.get('flow_name')}/{self._fields.get('name')})"

    @classmethod
    def build_from_flow(
        cls,
        flow: Any,
        name: str,
        output: str | os.PathLike[str] | None = None,
        schedules: Iterable[Any] | None = None,
        job_variables: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> Deployment:
        """As Prefect 2's: the flow's name, description and parameter schema come from its
        source; ``output`` writes the file at once. ``skip_upload``, ``apply`` and
        ``load_existing`` are refused: deployctl packages code at sync, from a commit."""
        from controller.services.authoring import assemble
        from controller.services.build_options import schedule_item

        unknown = sorted(set(fields) - set(_FIELDS) - {"schedule"})
        if unknown:
            raise UsageError(
                f"build_from_flow() does not take {', '.join(unknown)}: the fields are {', '.join(_FIELDS)}, "
                "schedules and job_variables (commit the file and sync it instead of apply)"
            )
        named = {k: v for k, v in fields.items() if v is not None and k != "schedule"}
        if job_variables is not None:
            named["infra_overrides"] = dict(job_variables)
        listed = list(schedules or []) + ([fields["schedule"]] if fields.get("schedule") else [])
        if schedules is not None or listed:
            named.update(schedule=None, schedules=[schedule_item(s) for s in listed])
        for key in ("tags",):
            if key in named:
                named[key] = list(named[key])
        flow_file, function = _flow_location(flow)
        default = Path(f"{function}-deployment.yaml").resolve()
        built = cls(assemble(name, flow_file, function, default, named).fields, named, (flow_file, function))
        if output is not None:
            built.to_yaml(output)
        return built

    def to_yaml(self, path: str | os.PathLike[str]) -> Path:
        """Write the file (or change the given fields of an existing one); the path written."""
        from controller.loading.authoring import write_deployment
        from controller.services.authoring import assemble

        target = Path(path)
        if self._flow is None:
            raise UsageError("to_yaml() needs a Deployment made by build_from_flow (load_yaml reads a file)")
        built = assemble(self._fields["name"], *self._flow, target, self._named)
        self._fields = built.fields
        return write_deployment(target, built.fields, built.named).path

    @classmethod
    def load_yaml(cls, path: str | os.PathLike[str]) -> Deployment:
        """Read a deployment.yaml; ``UsageError`` names its first problem as a sync would."""
        from controller.core.diagnostics import Severity
        from controller.loading.loader import load_manifests
        from controller.loading.tree import DirectoryTree
        from controller.loading.yaml_roundtrip import RoundTripError, load_mapping

        target = Path(path)
        if not target.is_file():
            raise UsageError(f"{path}: no such file")
        result = load_manifests(DirectoryTree(target.resolve().parent), only=frozenset({target.name}))
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        if errors:
            raise UsageError(str(errors[0]))
        try:
            return cls(load_mapping(target.read_text(encoding="utf-8")))
        except RoundTripError as exc:
            raise UsageError(f"{path}: {exc}") from None

    load_from_yaml = load_yaml


def _flow_location(flow: Any) -> tuple[Path, str]:
    """(file, function) of ``"path.py:function"``, a function, or a Prefect flow (``.fn``)."""
    if isinstance(flow, str):
        from controller.loading.authoring import split_entrypoint

        path, function = split_entrypoint(flow)
        return Path(path).resolve(), function
    function_object = getattr(flow, "fn", flow)
    try:
        file = inspect.getsourcefile(function_object)
    except TypeError:
        file = None
    if file is None or not hasattr(function_object, "__name__"):
        raise UsageError(f"{flow!r} is neither 'path/to/file.py:function' nor a function defined in a file")
    return Path(file).resolve(), function_object.__name__
