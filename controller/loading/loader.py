"""Loads every manifest of a source tree into desired state: ``load_manifests``.

Steps: read ``.deployctl.yaml``; find manifests by its globs; parse each file (cached by
content id when the tree knows one); check entrypoints and code folders, and give prefect.yaml
deployments what ``prefect deploy`` takes from the flow; check enforced parameters; refuse
duplicate identities. Any exception while loading one file becomes a diagnostic for it. Files
with any error contribute no specs and are listed in ``broken_files`` so the reconciler can
freeze their deployments. Called by the CLI and the reconciler.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import pathspec

from controller.core.diagnostics import Diagnostic, Severity, format_field_path
from controller.core.spec import DeploymentId, DeploymentSpec, RunPolicy
from controller.loading.entrypoints import (
    EntrypointProblem,
    FlowInfo,
    check_entrypoint,
    flow_info,
    resolve_entrypoint_path,
)
from controller.loading.manifests import ParsedManifest, is_project_file, parse_manifest, parse_repo_settings
from controller.loading.models.repo_settings import RepoSettings
from controller.loading.parameter_check import environment_problems, parameter_problems
from controller.loading.placeholders import templating_env
from controller.loading.project_flows import as_prefect_deploys
from controller.loading.safe_yaml import Locator
from controller.loading.tree import SourceTree, escaping_symlinks

SETTINGS_FILE = ".deployctl.yaml"


@dataclass
class LoadCache:
    """Results kept between passes, keyed by content ids, so a new commit costs what it changed.

    ``parsed``: (path, blob id) -> parse result. ``code``: (entrypoint, code folder, blob id of
    the entry file) -> problem, or what its @flow says. Both stay valid while the
    repository defaults and the environment are unchanged; ``key`` records those.
    """

    key: str = ""
    parsed: dict[tuple[str, str], ParsedManifest] = field(default_factory=dict)
    code: dict[tuple[str, str, str], EntrypointProblem | FlowInfo] = field(default_factory=dict)

    def reset_unless(self, key: str) -> None:
        if key != self.key:
            self.key, self.parsed, self.code = key, {}, {}


@dataclass(frozen=True)
class LoadResult:
    specs: dict[DeploymentId, DeploymentSpec]
    diagnostics: tuple[Diagnostic, ...]
    manifest_files: tuple[str, ...]
    broken_files: frozenset[str]
    settings: RepoSettings = field(default_factory=RepoSettings)

    @property
    def ok(self) -> bool:
        return not any(d.severity is Severity.ERROR for d in self.diagnostics)


def load_manifests(
    tree: SourceTree,
    env: Mapping[str, str] | None = None,
    cache: LoadCache | None = None,
    variables: Mapping[str, str] | None = None,
    only: frozenset[str] | None = None,
) -> LoadResult:
    """``variables``: the registry's, for ``{{ prefect.variables.x }}``; None (offline) leaves them.
    ``only``: look for manifests among these paths alone (an incremental pass); entrypoints
    are still checked against the whole tree."""
    settings, problems = _load_settings(tree)
    env = templating_env(os.environ if env is None else env, settings.templating.env)
    cache = cache if cache is not None else LoadCache()
    known = None if variables is None else sorted(variables.items())
    cache.reset_unless(settings.model_dump_json() + repr(sorted(env.items())) + repr(known))
    files = find_manifests(tree.files() if only is None else sorted(only), settings)
    parsed = {path: _parse(tree, path, settings, env, cache, variables) for path in files}
    diagnostics = [*problems, *(d for p in parsed.values() for d in p.diagnostics)]
    specs, more = _check_code(tree, [s for p in parsed.values() for s in p.specs], cache, settings)
    diagnostics += more
    diagnostics += _duplicate_identities(tree, specs)
    diagnostics += _duplicate_slugs(tree, specs)
    broken = frozenset(d.file for d in diagnostics if d.severity is Severity.ERROR)
    delivery = settings.prefect.model_dump(include={"code", "git_credentials"}, exclude_none=True)
    if delivery:
        specs = [replace(s, code_delivery=delivery) for s in specs]
    valid = {s.id: s for s in specs if s.source.file not in broken}
    return LoadResult(valid, tuple(sorted(diagnostics)), tuple(files), broken, settings)


def find_manifests(paths: Iterable[str], settings: RepoSettings) -> list[str]:
    include = pathspec.GitIgnoreSpec.from_lines(settings.manifests)
    exclude = pathspec.GitIgnoreSpec.from_lines(settings.exclude)
    names = {glob.rsplit("/", 1)[-1] for glob in settings.manifests}
    quick = all("*" not in n or n.startswith("*") for n in names)
    suffixes = tuple(n.lstrip("*") for n in names)
    return [
        p
        for p in paths
        if (not quick or p.endswith(suffixes))
        and include.match_file(matchable(p))
        and not exclude.match_file(matchable(p))
    ]


def matchable(path: str) -> str:
    """``path`` as gitignore patterns can match it: git allows a newline in a name, which the
    patterns' regular expressions never cross; a wildcard matches the stand-in as it would it."""
    return path.replace("\n", "\x1f")


def _load_settings(tree: SourceTree) -> tuple[RepoSettings, tuple[Diagnostic, ...]]:
    return repo_settings(tree.read(SETTINGS_FILE) if SETTINGS_FILE in tree.files() else None)


@functools.lru_cache(maxsize=8)
def repo_settings(raw: bytes | None) -> tuple[RepoSettings, tuple[Diagnostic, ...]]:
    """A commit's ``.deployctl.yaml`` (``raw``; None: there is none) and its problems. The one
    reading of the file: a pass asks for it three times (its owner, whether an incremental pass
    may skip folders, the defaults of every manifest) and parses it once per content."""
    if raw is None:
        return RepoSettings(), ()
    try:
        return parse_repo_settings(SETTINGS_FILE, raw)
    except Exception as exc:  # noqa: BLE001 - reported like any other unreadable file
        return RepoSettings(), (_internal_error(SETTINGS_FILE, exc),)


def _parse(
    tree: SourceTree,
    path: str,
    settings: RepoSettings,
    env: Mapping[str, str],
    cache: LoadCache,
    variables: Mapping[str, str] | None,
) -> ParsedManifest:
    key = (path, tree.content_id(path) or "")
    if key[1] and key in cache.parsed:
        return cache.parsed[key]
    shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if shown != path:  # git allows any bytes in a name; a registry stores text
        message = "this path is not valid UTF-8, so no registry can name its deployments: rename it"
        return ParsedManifest((), (Diagnostic(shown, 1, 1, "", message, "not-utf8"),))
    try:
        result = parse_manifest(
            path, tree.read(path), settings.defaults, env, settings.templating.env, variables
        )
    except Exception as exc:  # noqa: BLE001 - one unreadable file must not hide the others
        result = ParsedManifest((), (_internal_error(path, exc),))
    if key[1]:
        cache.parsed[key] = result
    return result


def _internal_error(path: str, exc: Exception) -> Diagnostic:
    return Diagnostic(path, 1, 1, "", _internal_message(exc), "internal-error")


def _internal_message(exc: Exception) -> str:
    text = str(exc)
    text = text if len(text) <= 200 else text[:197] + "..."
    return (
        f"deployctl could not read this ({type(exc).__name__}: {text}); the other files are "
        "still checked. Please report this input as a deployctl bug"
    )


def _check_code(
    tree: SourceTree, specs: list[DeploymentSpec], cache: LoadCache, settings: RepoSettings
) -> tuple[list[DeploymentSpec], list[Diagnostic]]:
    files = frozenset(tree.files())
    outside = escaping_symlinks(tree)
    policies = _RunPolicies(settings)
    checked, diagnostics = [], []
    for spec in specs:
        outcome = _code_outcome(tree, spec, files, outside, cache)
        if isinstance(outcome, EntrypointProblem):
            diagnostics.append(diagnostic_at(tree, spec, (outcome.field,), outcome.message, outcome.code))
            continue
        if is_project_file(spec.source.file):
            named, findings = as_prefect_deploys(spec, outcome)
            diagnostics += [
                diagnostic_at(tree, spec, (field,), message, code, Severity.WARNING)
                for field, message, code in findings
            ]
        else:
            named = spec if spec.flow_name else replace(spec, flow_name=outcome.name)
        refused = [
            diagnostic_at(tree, spec, where, message, code)
            for where, message, code in parameter_problems(named)
        ] + [
            diagnostic_at(tree, spec, _written_at(tree, spec, where), message, code)
            for where, message, code in environment_problems(named)
        ]
        if refused:
            diagnostics += refused
            continue
        policy = policies.of(outcome, named.id)
        checked.append(named if policy == named.run_policy else replace(named, run_policy=policy))
    return checked, diagnostics


def _code_outcome(
    tree: SourceTree,
    spec: DeploymentSpec,
    files: frozenset[str],
    outside: Mapping[str, str],
    cache: LoadCache,
) -> EntrypointProblem | FlowInfo:
    """The entrypoint's problem, or what its @flow says; cached by the entry file's blob."""
    entry = resolve_entrypoint_path(spec)
    blob = tree.content_id(entry) if entry in files else None
    key = (spec.entrypoint, spec.code_dir, blob or "")
    if blob and not outside and key in cache.code:
        return cache.code[key]
    try:
        checked = check_entrypoint(spec, tree, files, outside)
        outcome = (
            checked
            if isinstance(checked, EntrypointProblem)
            else flow_info(checked, spec.entrypoint_function)
        )
    except Exception as exc:  # noqa: BLE001 - one unreadable flow file must not hide the others
        outcome = EntrypointProblem("entrypoint", "internal-error", _internal_message(exc))
    if blob and not outside:
        cache.code[key] = outcome
    return outcome


class _RunPolicies:
    """Per-deployment settings > the flow's @flow(...) > repository defaults > built-in defaults,
    memoised: a repository has few distinct combinations and many deployments."""

    def __init__(self, settings: RepoSettings) -> None:
        self.defaults = self._known(settings.defaults.run.model_dump(exclude_none=True))
        self.overrides = {
            i: self._known(o.model_dump(exclude_none=True)) for i, o in settings.deployments.items()
        }
        self.memo: dict[tuple[object, ...], RunPolicy] = {}

    @staticmethod
    def _known(layer: Mapping[str, object]) -> dict[str, object]:
        return {k: v for k, v in layer.items() if k in RunPolicy.__dataclass_fields__}

    def of(self, flow: FlowInfo, identity: str) -> RunPolicy:
        options = tuple(sorted(flow.options.items()))
        override = identity if identity in self.overrides else None
        key = (options, override)
        if key not in self.memo:
            merged = {**self.defaults, **self._known(flow.options), **self.overrides.get(identity, {})}
            self.memo[key] = RunPolicy(**merged)  # type: ignore[arg-type]
        return self.memo[key]


def _duplicate_identities(tree: SourceTree, specs: list[DeploymentSpec]) -> list[Diagnostic]:
    by_id: dict[DeploymentId, list[DeploymentSpec]] = {}
    for spec in specs:
        by_id.setdefault(spec.id, []).append(spec)
    found = []
    for identity, same in by_id.items():
        if len(same) < 2:
            continue
        places = [_where(tree, s) for s in same]
        for spec, place in zip(same, places, strict=True):
            others = ", ".join(p for p in places if p != place)
            found.append(
                diagnostic_at(
                    tree,
                    spec,
                    ("name",),
                    f"deployment '{identity}' is also declared at {others}: "
                    "each flow_name/name must be declared once; rename or remove one",
                    "duplicate-identity",
                )
            )
    return found


def _duplicate_slugs(tree: SourceTree, specs: list[DeploymentSpec]) -> list[Diagnostic]:
    """A schedule is addressed by its slug, so two schedules of one deployment never share one."""
    found = []
    for spec in specs:
        seen: dict[str, int] = {}
        for position, schedule in enumerate(spec.schedules):
            if schedule.slug is None:
                continue
            if schedule.slug in seen:
                message = (
                    f"slug '{schedule.slug}' is already used by schedules[{seen[schedule.slug]}] of this "
                    "deployment: each schedule's slug must be unique; rename one"
                )
                found.append(
                    diagnostic_at(tree, spec, ("schedules", position, "slug"), message, "duplicate-slug")
                )
            seen.setdefault(schedule.slug, position)
    return found


def _where(tree: SourceTree, spec: DeploymentSpec) -> str:
    line, _ = Locator(tree.read(spec.source.file).decode()).locate((*spec.source.path, "name"))
    return f"{spec.source.file}:{line}"


def diagnostic_at(
    tree: SourceTree,
    spec: DeploymentSpec,
    field: tuple[str | int, ...],
    message: str,
    code: str,
    severity: Severity = Severity.ERROR,
) -> Diagnostic:
    path = (*spec.source.path, *field)
    line, column = Locator(tree.read(spec.source.file).decode()).locate(path)
    return Diagnostic(spec.source.file, line, column, format_field_path(path), message, code, severity)


def _written_at(
    tree: SourceTree, spec: DeploymentSpec, field: tuple[str | int, ...]
) -> tuple[str | int, ...]:
    """Where a field of the spec was written: ``job_variables`` may come from a project's
    ``work_pool`` or from dotted ``infra_overrides`` keys."""
    if field[0] == "work_pool_name":
        candidates = [field, ("work_pool", "name"), ("work_pool",)]
    elif field[0] == "job_variables":
        rest = field[1:]
        candidates = [
            field,
            ("work_pool", *field),
            ("infra_overrides", ".".join(str(p) for p in rest)),
            ("infrastructure", *rest),
        ]
    else:
        return field
    locator = Locator(tree.read(spec.source.file).decode())
    return next((c for c in candidates if locator.has((*spec.source.path, *c))), field)


def reject_specs(
    result: LoadResult, tree: SourceTree, reasons: Mapping[DeploymentId, tuple[str, str, str]]
) -> LoadResult:
    """``result`` with these deployments turned into diagnostics: id -> (dotted field, message, code).
    Their files count as broken, like any other invalid manifest."""
    if not reasons:
        return result
    added = [
        diagnostic_at(tree, spec, _written_at(tree, spec, tuple(field.split("."))), message, code)
        for i, (field, message, code) in reasons.items()
        for spec in (result.specs[i],)
    ]
    broken = result.broken_files | {d.file for d in added}
    specs = {i: s for i, s in result.specs.items() if s.source.file not in broken}
    return replace(
        result, specs=specs, diagnostics=tuple(sorted((*result.diagnostics, *added))), broken_files=broken
    )


NO_TRIGGERS = (
    "will not fire here: the embedded engine has no events yet, so the deployment syncs and runs "
    "without this trigger; on a Prefect server (prefect+http://…) it becomes an automation"
)


def warn_triggers(result: LoadResult, tree: SourceTree) -> LoadResult:
    """``result`` with a warning at each trigger of each deployment, for a registry whose engine
    does not run triggers (``Capabilities.runs_triggers``): kept, never refused."""
    added = [
        diagnostic_at(tree, spec, ("triggers", position), NO_TRIGGERS, "trigger-not-run", Severity.WARNING)
        for spec in result.specs.values()
        for position in range(len(spec.triggers))
    ]
    if not added:
        return result
    return replace(result, diagnostics=tuple(sorted((*result.diagnostics, *added))))
