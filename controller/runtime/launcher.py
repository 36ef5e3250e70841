"""Runs one flow in its own process: ``python -m controller.runtime.launcher SPEC.json``.

Started by the runner, without a shell, in the run's fresh folder. Loads the entrypoint's
file by path (never from the controller's import path), calls the function with the run's
parameters, and exits 0, or prints the traceback and exits 1. A Prefect ``@flow`` object is
called as such when Prefect is installed. When it is not, a stand-in ``prefect`` module
(``flow``, ``task``, ``get_run_logger``) lets the flow's file import, and the decorated
function itself runs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import logging
import sys
import traceback
import types
from pathlib import Path
from typing import Any


def _identity_decorator(*args: Any, **kwargs: Any) -> Any:
    """``@flow``, ``@flow(...)`` and ``flow(fn)`` all return ``fn``, with ``.fn`` as Prefect has it."""
    if len(args) == 1 and callable(args[0]) and not kwargs:
        function = args[0]
        function.fn = function
        return function
    return _identity_decorator


def install_prefect_stand_in() -> None:
    if importlib.util.find_spec("prefect") is not None:
        return
    stand_in = types.ModuleType("prefect")
    stand_in.flow = stand_in.task = _identity_decorator  # type: ignore[attr-defined]
    stand_in.get_run_logger = lambda: logging.getLogger("prefect.flow_runs")  # type: ignore[attr-defined]
    stand_in.__deployctl_stand_in__ = True  # type: ignore[attr-defined]
    sys.modules["prefect"] = stand_in
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")


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
    if hasattr(target, "fn") and getattr(sys.modules.get("prefect"), "__deployctl_stand_in__", False):
        target = target.fn
    return target


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    install_prefect_stand_in()
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
