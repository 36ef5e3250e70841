"""Run the shipped CI templates as their CI systems do, from the files themselves.

``run_action`` runs ``action.yml``'s composite steps as a GitHub Actions runner does: each
step's ``if:`` evaluated over the ``github`` and ``inputs`` contexts, ``${{ … }}`` in its
``env:`` substituted, its ``run:`` script executed by ``bash --noprofile --norc -eo pipefail``
(the runner's ``shell: bash``), and ``GITHUB_PATH`` honoured between steps. ``run_gitlab_job``
runs one job of a GitLab CI template: ``extends:`` merged, ``rules: if:`` evaluated over the
variables, ``before_script`` and ``script`` lines run by bash with ``set -eo pipefail`` and the
variables in the environment. Only the expression forms the templates use are understood
(``==``, ``!=``, ``&&``, ``||``, ``!``, parentheses, literals, context paths or ``$VARIABLES``);
anything else fails the test rather than being guessed.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TOKEN = re.compile(r"\s*(==|!=|&&|\|\||!|\(|\)|'(?:[^']|'')*'|\"[^\"]*\"|\$?[A-Za-z_][\w.-]*)")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class StepRun:
    name: str
    ran: bool
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""


def evaluate(expression: str, lookup: Callable[[str], Any], fold_case: bool) -> Any:
    """The value of ``expression``: literals, names resolved by ``lookup``, comparisons (case-
    insensitive on GitHub), ``!``, ``&&`` and ``||`` returning an operand as both systems do."""
    tokens, at = [], 0
    while at < len(expression.rstrip()):
        found = TOKEN.match(expression, at)
        assert found, f"cannot read {expression[at:]!r} in {expression!r}"
        tokens.append(found.group(1))
        at = found.end()
    value, rest = _or(tokens, lookup, fold_case)
    assert not rest, f"unread {rest} in {expression!r}"
    return value


def _or(tokens: list[str], lookup: Callable[[str], Any], fold: bool) -> tuple[Any, list[str]]:
    left, tokens = _and(tokens, lookup, fold)
    while tokens[:1] == ["||"]:
        right, tokens = _and(tokens[1:], lookup, fold)
        left = left or right
    return left, tokens


def _and(tokens: list[str], lookup: Callable[[str], Any], fold: bool) -> tuple[Any, list[str]]:
    left, tokens = _compare(tokens, lookup, fold)
    while tokens[:1] == ["&&"]:
        right, tokens = _compare(tokens[1:], lookup, fold)
        left = left and right
    return left, tokens


def _compare(tokens: list[str], lookup: Callable[[str], Any], fold: bool) -> tuple[Any, list[str]]:
    left, tokens = _operand(tokens, lookup, fold)
    if tokens[:1] in (["=="], ["!="]):
        right, rest = _operand(tokens[1:], lookup, fold)
        same = _comparable(left, fold) == _comparable(right, fold)
        return same == (tokens[0] == "=="), rest
    return left, tokens


def _comparable(value: Any, fold: bool) -> Any:
    return value.casefold() if fold and isinstance(value, str) else value


def _operand(tokens: list[str], lookup: Callable[[str], Any], fold: bool) -> tuple[Any, list[str]]:
    head, rest = tokens[0], tokens[1:]
    if head == "!":
        value, rest = _operand(rest, lookup, fold)
        return not value, rest
    if head == "(":
        value, rest = _or(rest, lookup, fold)
        assert rest[:1] == [")"], f"unbalanced parentheses before {rest}"
        return value, rest[1:]
    if head[0] in "'\"":
        return head[1:-1].replace("''", "'") if head[0] == "'" else head[1:-1], rest
    return lookup(head), rest


# GitHub Actions


def github_lookup(contexts: Mapping[str, Any]) -> Callable[[str], Any]:
    def lookup(path: str) -> Any:
        assert not path.startswith("$"), f"{path}: not a GitHub expression"
        value: Any = contexts
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value

    return lookup


def _substitute(text: str, lookup: Callable[[str], Any]) -> str:
    def one(found: re.Match[str]) -> str:
        value = evaluate(found.group(1), lookup, fold_case=True)
        return "" if value is None else str(value)

    return EXPRESSION.sub(one, text)


def run_action(
    action: Path, with_inputs: Mapping[str, str], env: Mapping[str, str], workspace: Path, token: str
) -> list[StepRun]:
    """Every step of the composite ``action`` as the runner runs it for the event that ``env``
    describes (GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REF …), ``token`` being the job's
    ``github.token``; stops at the first failure."""
    document = yaml.safe_load(action.read_text())
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    github = {
        "event_name": env["GITHUB_EVENT_NAME"],
        "event": event,
        "ref": env["GITHUB_REF"],
        "ref_name": env["GITHUB_REF_NAME"],
        "repository": env["GITHUB_REPOSITORY"],
        "token": token,
    }
    inputs: dict[str, Any] = {}
    for name, spec in document["inputs"].items():
        default = _substitute(str(spec.get("default", "")), github_lookup({"github": github}))
        inputs[name] = with_inputs.get(name, default)
    assert set(with_inputs) <= set(inputs), f"{set(with_inputs) - set(inputs)}: not inputs of the action"
    lookup = github_lookup({"github": github, "inputs": inputs})
    job_env = dict(env)
    runs: list[StepRun] = []
    for step in document["runs"]["steps"]:
        condition = step.get("if")
        if condition is not None and not evaluate(EXPRESSION.sub(r"\1", condition), lookup, fold_case=True):
            runs.append(StepRun(step["name"], ran=False))
            continue
        assert step["shell"] == "bash", "the test runs bash steps"
        step_env = {**job_env, **{k: _substitute(str(v), lookup) for k, v in step.get("env", {}).items()}}
        done = _bash(["--noprofile", "--norc", "-eo", "pipefail"], step["run"], step_env, workspace)
        runs.append(StepRun(step["name"], True, done.returncode, done.stdout, done.stderr))
        if done.returncode:
            break
        added = Path(job_env["GITHUB_PATH"]).read_text().split()
        job_env["PATH"] = ":".join([*reversed(added), env["PATH"]])
    return runs


# GitLab CI


def gitlab_job(template: Path, name: str) -> dict[str, Any]:
    """Job ``name`` of ``template`` with its ``extends:`` merged in (hashes deeply, as GitLab)."""
    document = yaml.safe_load(template.read_text())
    job = dict(document[name])
    parents = job.pop("extends", [])
    for parent in [parents] if isinstance(parents, str) else parents:
        job = _deep_merge(gitlab_job(template, parent), job)
    return job


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(base.get(key), dict)
        merged[key] = _deep_merge(base[key], value) if both else value
    return merged


def gitlab_job_runs(template: Path, name: str, variables: Mapping[str, str]) -> bool:
    """Whether the pipeline that ``variables`` describe gets job ``name`` (its first matching rule)."""
    job = gitlab_job(template, name)

    def lookup(token: str) -> Any:
        assert token.startswith("$"), f"{token}: GitLab names variables with $"
        return variables.get(token[1:])

    for rule in job.get("rules", [{}]):
        if "if" not in rule or evaluate(rule["if"], lookup, fold_case=False):
            return rule.get("when", "on_success") != "never"
    return False


def run_gitlab_job(
    template: Path, name: str, variables: Mapping[str, str], env: Mapping[str, str], workspace: Path
) -> StepRun:
    """Job ``name``'s ``before_script`` and ``script`` in one bash, with the template's variables
    under ``variables`` (what GitLab and the project set, which win) in the environment."""
    document = yaml.safe_load(template.read_text())
    job = gitlab_job(template, name)
    merged = {**document.get("variables", {}), **job.get("variables", {}), **variables}
    lines = [*job.get("before_script", []), *job["script"]]
    done = _bash(
        ["--noprofile", "--norc"], "set -eo pipefail\n" + "\n".join(lines), {**env, **merged}, workspace
    )
    return StepRun(name, True, done.returncode, done.stdout, done.stderr)


def _bash(
    options: list[str], script: str, env: Mapping[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *options, "-c", script], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=600
    )
