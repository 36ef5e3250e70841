"""Runs one flow in its own process: ``python -m controller.runtime.launcher SPEC.json``.

Started by the runner, without a shell, in the run's fresh folder. Loads the entrypoint's
file by path (never from the controller's import path), calls the function with the run's
parameters, and exits 0, or prints the traceback and exits 1. A Prefect ``@flow`` object is
called as such when Prefect is installed, else its underlying function (``.fn``) is.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys
import traceback
from pathlib import Path
from typing import Any


def load_callable(code_dir: Path, entrypoint: str) -> Any:
    relative, _, name = entrypoint.rpartition(":")
    path = (code_dir / relative).resolve()
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location("__flow__", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {relative}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["__flow__"] = module
    spec.loader.exec_module(module)
    target = getattr(module, name)
    if hasattr(target, "fn") and importlib.util.find_spec("prefect") is None:
        target = target.fn
    return target


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    try:
        target = load_callable(Path(spec["code_dir"]), spec["entrypoint"])
        result = target(**spec["parameters"])
        if inspect.isawaitable(result):
            asyncio.run(result)  # type: ignore[arg-type]
    except BaseException as exc:  # the flow's own failure: report it, exit non-zero
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
