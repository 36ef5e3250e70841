"""The last notice sent for each owner, kept in a JSON file of deployctl's home.

What makes a bad commit retried by a hundred passes, or a hundred CI runs on one home, one
message: ``decide_notice`` compares with it. Written whole to a temporary file and renamed, so a
reader never sees half of it; an unreadable file is kept aside and counts as empty.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from controller.core.notices import Event, NoticeKey

log = logging.getLogger("deployctl.notify")


class Ledger:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def last(self, owner: str) -> NoticeKey | None:
        entry = self._read().get(owner)
        if not isinstance(entry, dict):
            return None
        try:
            return NoticeKey(entry.get("revision"), Event(entry.get("event")))
        except ValueError:
            return None

    def remember(self, owner: str, key: NoticeKey) -> None:
        with self._lock:
            entries = self._read()
            entries[owner] = {"revision": key.revision, "event": key.event.value}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
            partial.write_text(json.dumps(entries, indent=1, sort_keys=True))
            os.replace(partial, self.path)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            aside = self.path.with_name(self.path.name + ".unreadable")
            log.warning("%s cannot be read: kept as %s, starting afresh", self.path, aside.name)
            os.replace(self.path, aside)
            return {}
        return data if isinstance(data, dict) else {}
