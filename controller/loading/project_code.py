"""A prefect.yaml deployment's code folder, and its entrypoint relative to that folder.

By default the code of every deployment of a project is the prefect.yaml's whole folder, as
``prefect deploy`` ships it, so a change to any file there changes them all. ``code:`` narrows
it to a folder inside the project that holds the entrypoint; the spec then names that folder
and the entrypoint relative to it, so that the runner, the storage artifact and a Prefect git
pull step all start in it. Pure; called by ``controller.loading.manifests``.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from controller.loading.tree import escapes_root

CodeFolder = tuple[str, str]
"""(code folder relative to the repository, entrypoint relative to that folder)."""


@dataclass(frozen=True)
class CodeProblem:
    message: str
    code: str
    field: str = "code"


def code_folder(project_dir: str, code: str | None, entrypoint: str) -> CodeFolder | CodeProblem:
    """``project_dir``: the prefect.yaml's folder ("." at the root); ``code``: the entry's
    ``code:``. An entrypoint without ``:function`` is passed on for the entrypoint check to refuse."""
    if code is None:
        return project_dir, entrypoint
    if escapes_root(code):
        return CodeProblem(
            f"code folder '{code}' is outside this project's folder: name a folder inside it, "
            "relative to prefect.yaml, or remove code: to use the project's folder",
            "code-outside-project",
        )
    folder = posixpath.normpath(posixpath.join(project_dir, code))
    file, colon, function = entrypoint.rpartition(":")
    if not colon:
        return folder, entrypoint
    prefix = "" if folder == "." else folder + "/"
    entry = posixpath.normpath(posixpath.join(project_dir, file))
    if not entry.startswith(prefix):
        return CodeProblem(
            f"entrypoint '{entrypoint}' is not inside this deployment's code folder '{code}': "
            "name the folder that holds the entrypoint's file (relative to prefect.yaml), "
            "or remove code: to use the project's folder",
            "entrypoint-outside-code",
        )
    return folder, f"{entry[len(prefix) :]}:{function}"
