"""Redaction replaces whole values of known secrets only, and a secret under 8 characters is
refused at start-up: one line naming the variable, exit 2 (the installed command, HOME in tmp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core.redaction import SECRET_VALUES, Redactor, redact
from tests.cli_helpers import run_deployctl

SECRET = "flow1234"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("token flow1234 refused", "token *** refused"),
        ("flow1234", "***"),
        ("a\nflow1234\nb", "a\n***\nb"),
        ("Bearer flow1234, again flow1234.", "Bearer ***, again ***."),
        ("flow12345 and xflow1234 and flow1234_x are other words", None),
        ("https://user:pass@git.example.com/flows.git", "https://***@git.example.com/flows.git"),
    ],
)
def test_only_whole_values_are_redacted(text: str, expected: str | None) -> None:
    assert redact(text, [SECRET, "", None]) == (text if expected is None else expected)


def test_a_secret_with_non_word_edges_is_found_beside_words() -> None:
    assert redact("auth=admin:pw-1234;", ["admin:pw-1234"]) == "auth=***;"
    assert redact("x-=sec+ret/=y", ["-=sec+ret/="]) == "x***y"
    assert Redactor(["longer-secret", "longer"])("longer-secret longer") == "*** ***"


@pytest.mark.parametrize("variable", SECRET_VALUES)
def test_a_short_secret_is_refused_at_start_up(tmp_path: Path, variable: str) -> None:
    done = run_deployctl(tmp_path / "home", "status", cwd=tmp_path, env={variable: "s"})
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: {variable} is 1 characters long: a secret must have at least 8")
    assert not (tmp_path / "home" / ".deployctl").exists()


def test_a_short_webhook_secret_file_stops_the_controller_before_it_listens(tmp_path: Path) -> None:
    (tmp_path / "webhook-secret").write_text("short\n")
    env = {"DEPLOYCTL_WEBHOOK_SECRET_FILE": "webhook-secret"}
    command = ("controller", "repo", "--listen", "127.0.0.1:0")
    done = run_deployctl(tmp_path / "home", *command, cwd=tmp_path, env=env)
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        "error: the secret in DEPLOYCTL_WEBHOOK_SECRET_FILE is 5 characters long: a secret must have at "
        "least 8 (a short one is guessable, and cannot be told from ordinary words in logs); use a longer one"
    ]
