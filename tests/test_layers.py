"""The architecture as a test: the pure core imports no I/O library, loading no adapter or engine."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "controller"
IO_LIBRARIES = {
    "git",
    "httpx",
    "yaml",
    "ruamel",
    "sqlite3",
    "os",
    "pathlib",
    "subprocess",
    "socket",
    "time",
    "fsspec",
    "apscheduler",
    "click",
    "shutil",
    "tempfile",
    "io",
    "random",
    "uuid",
}
CLOCK_CALLS = {"now", "utcnow", "today", "monotonic", "perf_counter"}


def imports_of(folder: str) -> dict[str, set[str]]:
    found = {}
    for path in (PACKAGE / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path.name] = names
    return found


def test_core_is_pure() -> None:
    for module, names in imports_of("core").items():
        assert not {n.split(".")[0] for n in names} & IO_LIBRARIES, module
        assert all(n.startswith("controller.core") for n in names if n.startswith("controller")), module


def test_core_never_reads_the_clock() -> None:
    for path in (PACKAGE / "core").rglob("*.py"):
        calls = {
            node.func.attr
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        }
        assert not calls & CLOCK_CALLS, path.name


def test_loading_does_not_reach_into_adapters_or_engine() -> None:
    for module, names in imports_of("loading").items():
        assert not any(
            n.startswith(("controller.adapters", "controller.engine", "controller.cli")) for n in names
        ), module


def test_engine_reaches_libraries_only_through_adapters() -> None:
    for folder in ("engine", "runtime"):
        for module, names in imports_of(folder).items():
            assert not {n.split(".")[0] for n in names} & {"git", "sqlite3", "httpx", "fsspec"}, module


def _modules_after(code: str, env_home: Path) -> set[str]:
    import os
    import subprocess
    import sys

    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)), file=sys.stderr)"
    env = {**os.environ, "HOME": str(env_home)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(done.stderr.splitlines()[-1].split())


def test_the_python_api_does_not_load_click(tmp_path: Path) -> None:
    assert "click" not in _modules_after("import controller", tmp_path)


HEAVY = {"deepdiff", "jsonschema", "git", "apscheduler"}


def test_light_commands_never_import_heavy_libraries(tmp_path: Path) -> None:
    for args in (["--help"], ["validate", "--help"], ["deployment", "ls"]):
        run = (
            f"sys.argv = ['deployctl', *{args!r}]\n"
            "from controller.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass"
        )
        loaded = {name.split(".")[0] for name in _modules_after(run, tmp_path)}
        assert not loaded & HEAVY, (args, loaded & HEAVY)
