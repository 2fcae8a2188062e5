"""The chain clock: the wall clock plus a devnet time offset (devnet_increaseTime).

Every reading of the wall clock that becomes chain time goes through a
ChainClock: the L1's block timestamps (l1.chain.process), the sequencer's
block timestamps and mempool ages (sequencer.producer, sequencer.txpool) and
the gossip checks of block timestamps (node.blocknet, l1.settler.blockstore).
Outside devnet mode the offset is 0 and never changes, so the clock is the
wall clock (one integer addition per reading).

In devnet mode a process's offset is set by the `devnet_setTimeOffset`
control method (node.rpc.control) and persisted in that process's data
directory (`devnet_clock.json`), so a restart keeps it and a snapshot
restored by a revert brings time back with the data. The devnet's control
endpoint sets the same offset in every process (node.devnet.controller).
Time only moves forward: an offset below the current one, or above
MAX_OFFSET_MS, is refused.

The process-wide clock (PROCESS_CLOCK) exists because the wall clock it
extends is process-wide too, and its readers are module-level helpers deep
in code started by every role; a test that warps time builds its own
ChainClock instead.

    clock = ChainClock()
    clock.load(data_dir)              # the persisted offset (0 without the file); ClockFileError if malformed
    clock.set_offset(3_600_000)       # one hour ahead from now on, written to data_dir first
    clock.now_ms()                    # wall clock ms + offset
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from node.service import ConfigError

CLOCK_FILE = "devnet_clock.json"
MAX_OFFSET_MS = 10 * 365 * 86_400 * 1000  # ten years: more is a typo, and keeps timestamps far from any bound


class ClockError(ValueError):
    """An offset that would move time backwards or out of range (the message names the value and the bound)."""


class ClockFileError(ConfigError):
    """The persisted clock file is unreadable or malformed (the process refuses to start on it)."""


def validate_offset(offset_ms: int, current_ms: int = 0) -> int:
    """`offset_ms` if it is an integer in [current_ms, MAX_OFFSET_MS], else ClockError saying why."""
    if isinstance(offset_ms, bool) or not isinstance(offset_ms, int):
        raise ClockError(f"the time offset must be an integer number of ms, got {offset_ms!r}")
    if offset_ms < current_ms:
        raise ClockError(f"time only moves forward: offset {offset_ms} ms is below the current offset {current_ms} ms")
    if offset_ms > MAX_OFFSET_MS:
        raise ClockError(f"the time offset may be at most {MAX_OFFSET_MS} ms (10 years), got {offset_ms} ms")
    return offset_ms


def read_offset(path: Path) -> int:
    """The offset persisted at `path` (0 when there is no file); ClockFileError naming the file and the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return 0
    except (OSError, UnicodeDecodeError) as exc:
        raise ClockFileError(f"cannot read the devnet clock file {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ClockFileError(f"the devnet clock file {path} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"offsetMs"}:
        raise ClockFileError(f'the devnet clock file {path} must hold {{"offsetMs": N}}, got {text.strip()[:80]!r}')
    try:
        return validate_offset(doc["offsetMs"])
    except ClockError as exc:
        raise ClockFileError(f"the devnet clock file {path}: {exc}") from None


def write_offset(path: Path, offset_ms: int) -> None:
    """Persist `offset_ms` at `path` atomically and durably (a temporary file, fsync, rename, fsync the dir)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"offsetMs": offset_ms}) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ChainClock:
    """Wall-clock time plus an offset that only grows; persisted in a data directory once loaded from it."""

    def __init__(self, offset_ms: int = 0) -> None:
        self._offset_ms = validate_offset(offset_ms)
        self._path: Path | None = None
        self._jump_ms = 0  # the last set_offset's step forward
        self._jumped_at = 0.0  # and when (time.monotonic())

    @property
    def offset_ms(self) -> int:
        return self._offset_ms

    @property
    def path(self) -> Path | None:
        """Where set_offset persists the offset (None until `load`)."""
        return self._path

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000 + self._offset_ms

    def now_s(self) -> float:
        return time.time() + self._offset_ms / 1000

    def load(self, data_dir: Path) -> int:
        """Take the offset persisted in `data_dir` (0 without a file) and persist there from now on."""
        path = Path(data_dir) / CLOCK_FILE
        self._offset_ms = read_offset(path)
        self._path = path
        return self._offset_ms

    def set_offset(self, offset_ms: int) -> int:
        """Move the clock to `offset_ms` ahead of the wall clock (never back); durable before it takes effect.
        Returns the previous offset."""
        previous = self._offset_ms
        validate_offset(offset_ms, previous)
        if self._path is not None and offset_ms != previous:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            write_offset(self._path, offset_ms)
        self._offset_ms = offset_ms
        if offset_ms != previous:
            self._jump_ms, self._jumped_at = offset_ms - previous, time.monotonic()
        return previous

    def recent_jump_ms(self, within_s: float) -> int:
        """How far time jumped forward in the last `within_s` seconds (0 if it did not): a block stamped just
        before the jump, still in flight, is that much older in chain time than its age on the wall clock,
        so a check of how old a block may be (gossip's max_past_ms) allows this much more for that long."""
        if self._jump_ms and time.monotonic() - self._jumped_at <= within_s:
            return self._jump_ms
        return 0


PROCESS_CLOCK = ChainClock()


def now_ms() -> int:
    """The process's chain time in ms (the wall clock outside devnet mode)."""
    return PROCESS_CLOCK.now_ms()


__all__ = [
    "CLOCK_FILE",
    "MAX_OFFSET_MS",
    "PROCESS_CLOCK",
    "ChainClock",
    "ClockError",
    "ClockFileError",
    "now_ms",
    "read_offset",
    "validate_offset",
    "write_offset",
]
