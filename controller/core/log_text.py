"""Flow output made safe to print: terminal control sequences shown, never obeyed. Pure.

A flow's log line may hold ESC sequences (cursor moves, title changes, OSC 52 clipboard
writes). ``printable`` renders every control character except tab as a visible ``\\xNN``
escape. Called by the CLI where it prints flow-run logs.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def printable(line: str) -> str:
    """``line`` with control characters (C0 but tab, DEL, C1, line separators) escaped."""
    return _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", line
    )
