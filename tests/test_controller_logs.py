"""Controller logs: one JSON object per line or text, with credentials redacted in both."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from controller.runtime.controlling.logs import configure_logging

TOKEN = "ghp_tokenvalue123"
SECRET = "flow1234"


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    log = logging.getLogger("deployctl.controller")
    yield log
    for handler in list(logging.getLogger("deployctl").handlers):
        logging.getLogger("deployctl").removeHandler(handler)


def emit(logger: logging.Logger, log_format: str) -> str:
    out = io.StringIO()
    configure_logging(log_format, [TOKEN, ""], stream=out)
    logger.warning("cannot fetch https://user:%s@git.example.com/flows.git", TOKEN)
    try:
        raise RuntimeError(f"token {TOKEN} refused")
    except RuntimeError:
        logger.exception("pass failed")
    return out.getvalue()


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_credentials_are_redacted(logger: logging.Logger, log_format: str) -> None:
    output = emit(logger, log_format)
    assert TOKEN not in output and "user:" not in output
    assert "https://***@git.example.com/flows.git" in output and "token *** refused" in output


def test_json_is_one_object_per_line(logger: logging.Logger) -> None:
    lines = emit(logger, "json").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [d["level"] for d in documents] == ["warning", "error"]
    assert documents[1]["message"] == "pass failed" and "RuntimeError" in documents[1]["error"]
    assert all(d["logger"] == "deployctl.controller" and d["time"] for d in documents)


def test_the_log_keeps_words_that_contain_a_secret(logger: logging.Logger) -> None:
    """Whole values only (``core.redaction``): a word holding the secret is not mangled."""
    out = io.StringIO()
    configure_logging("text", [SECRET], stream=out)
    logger.warning("ran flow12345 at flow1234x; token %s refused", SECRET)
    assert out.getvalue().rstrip().endswith("ran flow12345 at flow1234x; token *** refused")
