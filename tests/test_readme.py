"""The README is a test: its commands run, in order, literally, as a new user would type them.

A fresh copy of the repository (the files git tracks, committed anew) in a temporary folder,
commands started at its root, with only ``HOME`` pointed at a temporary folder. The opening
``sh`` block's first line runs without its ``pip install`` (the package under test is installed
already; the second line is this very test suite). Then every other ``sh`` and ``console``
block runs, in the order of the README, unless the line above it says
``<!-- readme-test: not run (REASON) -->`` (a remote at git.example.com, a Prefect server, a
benchmark). In an ``sh`` block each line is a command. In a ``console`` block a ``$ `` line is a
command (``# …`` comments dropped; a trailing ``&`` starts it in the background, stopped with
SIGTERM at the end, which must exit 0), and the lines after it are output that must appear, in
order. In expected output ``…`` matches anything, an abbreviated id (``3f0c…``) any id, a 12-hex
version or an ISO time any, and runs of spaces any spacing. In a command, an abbreviated id
such as ``3f0c…`` stands for the id of the last flow run the README created.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00"
CREATED = re.compile(r"created flow run ([0-9a-f-]{36})")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


NOT_RUN = re.compile(r"<!-- readme-test: not run \((?P<reason>[^)]+)\) -->\n$")


def command_blocks(text: str) -> list[tuple[str, str, str | None]]:
    """Each ``sh`` and ``console`` block: its kind, its body, and why it is not run (or None)."""
    found = []
    for block in re.finditer(r"^```(\w+)\n(.*?)^```", text, flags=re.S | re.M):
        if block.group(1) in ("sh", "console"):
            marker = NOT_RUN.search(text, 0, block.start())
            found.append((block.group(1), block.group(2), marker.group("reason") if marker else None))
    return found


def readme_steps(text: str) -> list[Step]:
    (_, opening, _), *rest = command_blocks(text)
    steps = [Step(_without_install(opening.splitlines()[0]))]
    for kind, body, not_run in rest:
        if not_run:
            continue
        for line in body.splitlines():
            if kind == "sh" and line.strip():
                steps.append(Step(_without_comment(line)))
            elif line.startswith("$ "):
                steps.append(Step(_without_comment(line[2:])))
            elif line.strip() and steps:
                steps[-1].expected.append(line)
    return steps


def _without_comment(command: str) -> str:
    return command.split("  #")[0].split(" # ")[0].strip()


def _without_install(line: str) -> str:
    commands = [c.strip() for c in line.split("#")[0].split("&&")]
    return " && ".join(c for c in commands if not c.startswith("pip install"))


def pattern(expected: str) -> re.Pattern[str]:
    return re.compile(r"\s+".join(_token(token) for token in expected.split()))


def _token(token: str) -> str:
    if re.fullmatch(r"[0-9a-f]{12}", token):
        return "[0-9a-f]{12}"
    if re.fullmatch(TIME, token):
        return TIME
    parts = re.split(r"[0-9a-f]{4}…|…", token)
    gaps = re.findall(r"[0-9a-f]{4}…|…", token)
    out = re.escape(parts[0])
    for gap, part in zip(gaps, parts[1:], strict=True):
        out += ("[0-9a-f-]+" if gap != "…" else ".*") + re.escape(part)
    return out


def assert_in_order(expected: list[str], output: str, command: str) -> None:
    lines = iter(output.splitlines())
    for line in expected:
        wanted = pattern(line)
        assert any(wanted.search(got) for got in lines), f"$ {command}\nmissing: {line}\nin:\n{output}"


def fresh_copy(target: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for relative in files.decode().split("\0"):
        if relative and (ROOT / relative).is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / relative, target / relative)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid", "HOME": str(target)}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "PATH": os.environ["PATH"]}
    for git in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fresh copy"]):
        subprocess.run(["git", *git], cwd=target, env=env, check=True, capture_output=True)
    return target


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    work, home = fresh_copy(tmp_path / "deployctl"), tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEPLOYCTL_", "PREFECT_"))}
    env["HOME"] = str(home)
    # the deployctl installed beside this interpreter, even when its virtualenv is not activated
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    background: list[subprocess.Popen[bytes]] = []
    last_run = ""
    try:
        for step in readme_steps(README.read_text()):
            command = re.sub(r"\b[0-9a-f]{4}…", last_run, step.command)
            if command.endswith("&"):
                background.append(_start(command[:-1], work, env, tmp_path / f"bg-{len(background)}.log"))
                continue
            done = subprocess.run(
                command, shell=True, cwd=work, env=env, capture_output=True, text=True, timeout=180
            )
            output = done.stdout + done.stderr
            allowed = (0, 1) if command.startswith("deployctl plan") else (0,)  # plan: 1 = changes
            assert done.returncode in allowed, f"$ {command}\nexit {done.returncode}\n{output}"
            assert_in_order(step.expected, output, command)
            last_run = next(iter(CREATED.findall(output)), last_run)
    finally:
        for process in background:
            process.send_signal(signal.SIGTERM)
    for number, process in enumerate(background):
        assert process.wait(timeout=60) == 0, (tmp_path / f"bg-{number}.log").read_text()


def _start(command: str, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(shlex.split(command), cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT)


def test_every_command_block_runs_or_says_why_not() -> None:
    text = README.read_text()
    blocks = command_blocks(text)
    assert text.count("<!-- readme-test:") == sum(1 for *_, reason in blocks if reason), (
        "each marker stands right above the block it names"
    )
    commands = [step.command for step in readme_steps(text)]
    for kind, body, reason in blocks[1:]:
        lines = [
            line.removeprefix("$ ") for line in body.splitlines() if kind == "sh" or line.startswith("$ ")
        ]
        assert reason or _without_comment(lines[0]) in commands, body
    for command in commands:  # "." here would be deployctl's own checkout: its tests, its Kubernetes files
        assert not re.search(r"deployctl (sync|plan|validate|up|controller) \.(\s|$)", command), command
