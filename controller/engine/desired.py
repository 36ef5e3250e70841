"""Desired state of a snapshot: validated specs stamped with their code digest and version.

A deployment's inputs are its declaration and the files of its code folder less what that
folder's ``.prefectignore`` excludes and less other manifests (four deployments declared side
by side in one folder do not change each other's versions). Its declaration is its manifest
when that declares it alone, and its own rendered spec when it is one entry of a prefect.yaml
(a sibling's edit changes nothing). Their digest says whether anything changed since the last
apply; only deployments whose inputs changed get a new version, found by one walk of git
history. Keeps the loader's caches between passes. Called by the reconciler.
"""

from __future__ import annotations

import bisect
import hashlib
import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from controller.core.records import record_digest, spec_digest, to_record
from controller.core.spec import DeploymentId, DeploymentSpec
from controller.loading.tree import SourceTree
from controller.ports import Admission, Capabilities, CommitTree, KnownVersion, Snapshot

if TYPE_CHECKING:  # the loader (pydantic models) is imported only by a pass that loads
    import pathspec

    from controller.loading.loader import LoadCache, LoadResult

IGNORE_FILE = ".prefectignore"
Admit = Callable[[Mapping[DeploymentId, DeploymentSpec], Mapping[str, Any]], Admission]
VERSION_LENGTH = 12
ENGINE_STAMPS = ("version", "code_digest", "code_links")
"""Record fields the engine sets from a deployment's inputs: never part of its declaration."""


@dataclass(frozen=True)
class CodeFile:
    path: str  # relative to the code folder
    mode: str
    blob: str


@dataclass(frozen=True)
class DesiredState:
    load: LoadResult
    specs: dict[DeploymentId, DeploymentSpec]
    input_digests: dict[DeploymentId, str]
    commits: dict[DeploymentId, str]
    code: dict[str, tuple[CodeFile, ...]]  # code digest -> files, for building
    digests: dict[DeploymentId, str]  # record digest of each spec
    tree: CommitTree  # what was read: the commit's tree, or the part an incremental pass lists


@dataclass
class DesiredStateBuilder:
    """Builds desired state per pass, keeping per-content caches across passes."""

    runs_triggers: bool = True
    """Whether the backend fires triggers (``Capabilities.runs_triggers``); if not, each
    trigger is warned about at its file and line."""
    infrastructure: frozenset[str] | None = None
    """The infrastructure types the backend can run (``Capabilities.supported_infrastructure``;
    None: any); a deployment of another type is invalid."""
    trigger_kinds: frozenset[str] | None = None
    """The kinds of trigger the backend runs (``Capabilities.trigger_kinds``; None: all); a
    trigger of another kind is refused at its file and line."""
    _cache: LoadCache | None = None
    _ignores: dict[str, pathspec.GitIgnoreSpec] = field(default_factory=dict)
    _files: frozenset[str] = frozenset()
    _digests: dict[tuple[str, ...], str] = field(default_factory=dict)
    _declarations: dict[tuple[str, ...], str] = field(default_factory=dict)

    @classmethod
    def of(cls, capabilities: Capabilities) -> DesiredStateBuilder:
        """A builder for a backend that can do what ``capabilities`` say."""
        return cls(
            capabilities.runs_triggers, capabilities.supported_infrastructure, capabilities.trigger_kinds
        )

    @property
    def load_cache(self) -> LoadCache:
        """Made on first use, so that a pass that loads nothing imports no loader."""
        if self._cache is None:
            from controller.loading.loader import LoadCache

            self._cache = LoadCache()
        return self._cache

    def build(
        self,
        snapshot: Snapshot,
        known: Mapping[DeploymentId, KnownVersion],
        env: Mapping[str, str] | None = None,
        variables: Mapping[str, str] | None = None,
        only: frozenset[str] | None = None,
        part: CommitTree | None = None,
        admit: Admit | None = None,
    ) -> DesiredState:
        """``admit``: the registry's completion and refusals of what was declared (``Registry.admit``).
        ``variables``: the registry's, for ``{{ prefect.variables.x }}``.
        ``only``: look for manifests among these paths alone, in ``part`` of the tree (an
        incremental pass)."""
        tree = part or snapshot.tree
        from controller.loading.loader import load_manifests, reject_specs, warn_triggers

        load = load_manifests(tree, env=env, cache=self.load_cache, variables=variables, only=only)
        if self.infrastructure is not None:
            load = reject_specs(load, tree, _unsupported(load, self.infrastructure))
        if admit is not None and load.specs:
            admission = admit(load.specs, load.settings.backend_options)
            load = reject_specs(replace(load, specs=dict(admission.specs)), tree, admission.refusals)
        if not self.runs_triggers:
            load = warn_triggers(load, tree)
        else:
            from controller.loading.trigger_checks import check_triggers

            load = check_triggers(load, tree, self.trigger_kinds)
        self._files = frozenset(tree.files())
        manifests = frozenset(load.manifest_files)
        folders = FolderIndex(tree.files())
        code: dict[str, tuple[CodeFile, ...]] = {}
        digest_of_folder: dict[str, str] = {}
        links = FolderIndex(tree.links())
        linked: set[str] = set()
        for folder in {spec.code_dir for spec in load.specs.values()}:
            files = self._code_files(tree, folder, folders, manifests)
            digest = _digest(f"{f.path}\0{f.mode}\0{f.blob}" for f in files)
            code[digest], digest_of_folder[folder] = files, digest
            if links.under("" if folder == "." else folder + "/"):
                linked.add(folder)
        previous, self._declarations = self._declarations, {}
        inputs = {
            i: _digest([s.source.file, self._declaration(tree, s, previous), digest_of_folder[s.code_dir]])
            for i, s in load.specs.items()
        }
        commits = self._versions(snapshot, tree, load, inputs, known, manifests)
        specs = {
            i: replace(
                s,
                code_digest=digest_of_folder[s.code_dir],
                version=commits[i][:VERSION_LENGTH],
                code_links=True if s.code_dir in linked else None,
            )
            for i, s in load.specs.items()
        }
        return DesiredState(load, specs, inputs, commits, code, self._record_digests(tree, specs), tree)

    def _declaration(
        self, tree: SourceTree, spec: DeploymentSpec, previous: Mapping[tuple[str, ...], str]
    ) -> str:
        """What a deployment's version answers to besides its code. A manifest that declares
        one deployment (a block ``deployment.yaml``) stands for it by its blob id. An entry of a
        prefect.yaml stands for itself: the digest of its rendered spec (the project keys and
        defaults that reach it, less the engine's stamps; records hold no list position), so
        that a sibling's edit or an entry inserted above it changes nothing. Memoised by what
        that spec is made of: the file, its entry file (the @flow) and the loader's settings."""
        blob = tree.content_id(spec.source.file) or ""
        if not spec.source.path:
            return blob
        entry = posixpath.normpath(posixpath.join(spec.code_dir, spec.entrypoint_file))
        flow = (tree.content_id(entry) if entry in self._files else None) or ""
        key = (spec.source.file, blob, spec.id, entry, flow, self.load_cache.key)
        digest = previous.get(key) if blob else None
        if digest is None:
            record = to_record(spec)
            for stamp in ENGINE_STAMPS:
                record.pop(stamp, None)
            digest = record_digest(record)
        self._declarations[key] = digest
        return digest

    def _record_digests(
        self, tree: SourceTree, specs: Mapping[DeploymentId, DeploymentSpec]
    ) -> dict[DeploymentId, str]:
        """Record digests, memoised by what a spec is made of: its manifest blob and stamps."""
        previous, self._digests = self._digests, {}
        out = {}
        for identity, spec in specs.items():
            key = (
                spec.source.file,
                tree.content_id(spec.source.file) or "",
                identity,
                spec.version or "",
                spec.code_digest or "",
                "links" if spec.code_links else "",
                self.load_cache.key,
            )
            digest = previous.get(key) or spec_digest(spec)
            self._digests[key] = out[identity] = digest
        return out

    def _code_files(
        self, tree: SourceTree, folder: str, index: FolderIndex, manifests: frozenset[str]
    ) -> tuple[CodeFile, ...]:
        keep = self._input_filter(tree, folder, manifests)
        prefix = "" if folder == "." else folder + "/"
        files = []
        for path in index.under(prefix):
            relative = path[len(prefix) :]
            if keep(relative) and path not in tree.symlinks():
                files.append(CodeFile(relative, _mode(tree, path), tree.content_id(path) or ""))
        return tuple(files)

    def _input_filter(
        self, tree: SourceTree, folder: str, manifests: frozenset[str]
    ) -> Callable[[str], bool]:
        prefix = "" if folder == "." else folder + "/"
        path = prefix + IGNORE_FILE
        blob = tree.content_id(path) if path in self._files else None
        if blob is None:
            return lambda relative: prefix + relative not in manifests
        if blob not in self._ignores:
            import pathspec

            lines = tree.read(path).decode("utf-8", "replace").splitlines()
            self._ignores[blob] = pathspec.GitIgnoreSpec.from_lines(lines)
        from controller.loading.loader import matchable

        spec = self._ignores[blob]
        return lambda relative: (
            prefix + relative not in manifests and not spec.match_file(matchable(relative))
        )

    def _versions(
        self,
        snapshot: Snapshot,
        tree: SourceTree,
        load: LoadResult,
        inputs: Mapping[DeploymentId, str],
        known: Mapping[DeploymentId, KnownVersion],
        manifests: frozenset[str],
    ) -> dict[DeploymentId, str]:
        commits = {i: known[i].commit for i in inputs if i in known and known[i].input_digest == inputs[i]}
        unknown: dict[str, tuple[str, str, Callable[[str], bool]]] = {
            i: (s.source.file, s.code_dir, self._input_filter(tree, s.code_dir, manifests))
            for i, s in load.specs.items()
            if i not in commits
        }
        if unknown:
            found = snapshot.last_changing_commits(unknown)
            commits |= {DeploymentId(i): found.get(i, snapshot.commit) for i in unknown}
        return commits


def _unsupported(load: LoadResult, supported: frozenset[str]) -> dict[DeploymentId, tuple[str, str, str]]:
    return {
        identity: (
            "infrastructure.type",
            f"infrastructure type '{spec.infrastructure.type}' cannot run on "
            f"the embedded registry, which runs flows as local processes: use type: process, or "
            f"sync to a Prefect server",
            "unsupported-infrastructure",
        )
        for identity, spec in load.specs.items()
        if spec.infrastructure.type not in supported
    }


class FolderIndex:
    """Sorted paths, to list a folder's files by binary search instead of a scan."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = sorted(paths)

    def directly_in(self, folder: str) -> list[str]:
        """Files of ``folder`` itself ("" is the root), not of its sub-folders."""
        prefix = folder + "/" if folder else ""
        cut = len(prefix)
        return [p for p in self.under(prefix) if p.find("/", cut) < 0]

    def under(self, prefix: str) -> list[str]:
        if not prefix:
            return self.paths
        start = bisect.bisect_left(self.paths, prefix)
        end = bisect.bisect_left(self.paths, prefix[:-1] + chr(ord("/") + 1))
        return self.paths[start:end]


def _mode(tree: SourceTree, path: str) -> str:
    mode = getattr(tree, "mode", None)
    return mode(path) if mode else "100644"


def _digest(parts: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(str(part).encode("utf-8", "surrogateescape"))
        hasher.update(b"\n")
    return hasher.hexdigest()
