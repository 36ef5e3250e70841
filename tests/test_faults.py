"""Faults say what happened: a full disk under the home, a registry that cannot be written."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import invoke
from tests.gitrepo import GitRepo


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a real full disk (needs root, as CI runs; skipped where mounting is refused)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_named_nothing_is_applied_and_no_temporary_file_stays(
    tmp_path: Path, small_disk: Path
) -> None:
    repo = GitRepo(tmp_path / "repo")
    for i in range(300):
        folder = f"flows/f{i}"
        repo.write({f"{folder}/deployment.yaml": f"name: d{i}\nflow_name: etl\nentrypoint: flow.py:run\n"})
        repo.write({f"{folder}/flow.py": "def run():\n    pass\n" + f"# {i}\n" * 400})
    repo.commit("many deployments")
    result = invoke(tmp_path, "--home", str(small_disk), "sync", str(repo.root))
    assert result.exit_code == 2
    output = result.stdout + result.stderr
    assert "no space left" in output and "nothing was applied" in output, output
    assert "Applied:" not in output and "Traceback" not in output
    assert not list(small_disk.rglob(".upload-*")), "a temporary upload file was left behind"
    listed = invoke(tmp_path, "--home", str(small_disk), "deployment", "ls")
    assert "no deployments" in listed.stdout


def test_a_full_registry_disk_rolls_back_whole_and_says_so(tmp_path: Path, small_disk: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    words = "lorem ipsum " * 300
    for i in range(200):
        manifest = f"name: d{i}\nflow_name: etl\nentrypoint: flow.py:run\ndescription: '{words}{i}'\n"
        repo.write({f"flows/f{i}/deployment.yaml": manifest, f"flows/f{i}/flow.py": "def run():\n    pass\n"})
    repo.commit("large descriptions")
    storage = tmp_path / "storage"
    result = invoke(tmp_path, "--home", str(small_disk), "--storage", str(storage), "sync", str(repo.root))
    output = result.stdout + result.stderr
    assert result.exit_code == 2 and "no space left while writing" in output, output
    assert "registry.db" in output and "nothing was applied" in output
    assert "cannot rollback" not in output and "Applied:" not in output
    listed = invoke(tmp_path, "--home", str(small_disk), "deployment", "ls")
    assert listed.exit_code == 0 and "no deployments" in listed.stdout
