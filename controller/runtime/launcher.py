"""Runs one flow in its own process: ``python -P /abs/launcher.py SPEC.json``.

Started by the runner, without a shell, by absolute path with ``-P`` and importing nothing
of deployctl, so a flow folder holding ``controller.py`` or ``logging.py`` cannot shadow it.
Loads the entrypoint's file by path, calls the function with the run's parameters, and
writes the outcome to the spec's ``result`` file (the runner tells a launcher failure from
a flow failure by it): exit 0, the flow's own ``sys.exit`` code, or 1 with the exception.
A Prefect ``@flow`` is called as such when Prefect is installed; else a stand-in ``prefect``
module lets the flow's file import, and the decorated function itself runs.
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
    result = Path(spec["result"])
    install_prefect_stand_in()
    result.write_text(json.dumps({"phase": "flow"}))  # from here on, what happens is the flow's
    code, message = run_flow(spec)
    result.write_text(json.dumps({"phase": "done", "code": code, "message": message}))
    return code


def run_flow(spec: dict[str, Any]) -> tuple[int, str]:
    """The exit code and a one-line message of the flow's outcome."""
    try:
        target = load_callable(Path(spec["code_dir"]), spec["entrypoint"])
        outcome = target(**spec["parameters"])
        if inspect.isawaitable(outcome):
            asyncio.run(outcome)  # type: ignore[arg-type]
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0, f"the flow called sys.exit({exc.code})" if exc.code else ""
        print(exc.code, file=sys.stderr)
        return 1, str(exc.code)
    except BaseException as exc:  # the flow's own failure: report it, exit non-zero
        traceback.print_exc()
        return 1, traceback.format_exception_only(exc)[-1].strip()
    return 0, ""


if __name__ == "__main__":
    sys.exit(main(sys.argv))
