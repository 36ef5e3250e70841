"""Log output of the long-running controller: text or one JSON object per line, secrets redacted.

``configure_logging`` installs one handler on the ``deployctl`` logger; a filter removes URL
credentials and the whole value of every known secret (git token, webhook secret, Prefect key
and auth string; ``core.redaction``) from each message and traceback before any formatter sees
it. Called by the CLI's ``controller`` command.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from controller.core import redaction


class Redactor(logging.Filter):
    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self.redact = redaction.Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            document["error"] = record.exc_text
        return json.dumps(document)


def configure_logging(
    log_format: str, secrets: Iterable[str | None], level: int = logging.INFO, stream: TextIO | None = None
) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(Redactor(secrets))
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("deployctl")
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
