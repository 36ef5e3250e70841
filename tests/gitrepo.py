"""A real git repository in a temporary folder, for tests: write files, commit, branch, push."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
}


class GitRepo:
    def __init__(self, root: Path, branch: str = "main") -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str) -> str:
        return self.git_bytes(*args).decode().strip()

    def git_bytes(self, *args: str, stdin: bytes | None = None) -> bytes:
        done = subprocess.run(["git", *args], cwd=self.root, env=ENV, capture_output=True, input=stdin)
        if done.returncode:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done.stdout

    def git_input(self, stdin: bytes, *args: str) -> str:
        return self.git_bytes(*args, stdin=stdin).decode().strip()

    def write(self, files: dict[str, str]) -> GitRepo:
        for relative, content in files.items():
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(content))
        return self

    def remove(self, *relative: str) -> GitRepo:
        self.git("rm", "-q", "-r", *relative)
        return self

    def commit(self, message: str = "change") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def deployment_files(
    name: str, folder: str | None = None, cron: str = "0 * * * *", body: str = ""
) -> dict[str, str]:
    folder = folder or f"flows/{name}"
    return {
        f"{folder}/deployment.yaml": f"name: {name}\nflow_name: etl\nentrypoint: flow.py:run\n"
        f"schedule:\n  cron: '{cron}'\n",
        f"{folder}/flow.py": f"def run(n=1):\n    print('{name}', n)\n{body}",
    }


def repository(root: Path, names: list[str]) -> GitRepo:
    repo = GitRepo(root)
    for name in names:
        repo.write(deployment_files(name))
    repo.commit("initial")
    return repo
