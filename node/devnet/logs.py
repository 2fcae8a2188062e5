"""Reading the end of a process's log file."""

from __future__ import annotations

from pathlib import Path

TAIL_LINES = 40
MAX_TAIL_BYTES = 64 * 1024


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of `path` ('' when it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - MAX_TAIL_BYTES))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def format_tail(name: str, path: Path, lines: int = TAIL_LINES) -> str:
    text = tail(path, lines)
    if not text:
        return f"--- {name}: log {path} is empty ---"
    return f"--- last {lines} lines of {path} ---\n{text}\n--- end of {name} log ---"
