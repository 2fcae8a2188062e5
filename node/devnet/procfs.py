"""What /proc says about a pid: is it running (not a zombie), is it one of ours, how much CPU it used."""

from __future__ import annotations

import os
from pathlib import Path

from node.devnet.pidfile import read_record

PROC = Path("/proc")


def is_running(pid: int) -> bool:
    """True when `pid` exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        return _signal_zero(pid)
    # "pid (comm) S ..." where comm may contain spaces and parentheses: the state follows the last ')'.
    state = stat.rpartition(")")[2].split()[:1]
    return bool(state) and state[0] not in ("Z", "X")


def _signal_zero(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cmdline(pid: int) -> list[str]:
    """The argv of `pid` ([] when gone, a zombie, or unreadable)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def start_time(pid: int) -> int | None:
    """The process start time in clock ticks after boot (field 22 of /proc/pid/stat), None if gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[19])  # fields after comm start at field 3
    except (IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used (fields 14 and 15 of /proc/pid/stat); 0.0 if gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def is_our_process(pid: int, config_path: str) -> bool:
    """True when `pid` runs `config_path`'s process (guards against pid reuse).

    Either `config_path` is in its command line (a `python -m MOD --config FILE` start) or it is the
    fork recorded for that config (node.devnet.pidfile: the same pid with the same start time).
    """
    if not is_running(pid):
        return False
    return any(config_path in arg for arg in cmdline(pid)) or is_recorded_fork(pid, config_path)


def is_recorded_fork(pid: int, config_path: str) -> bool:
    """True when node.devnet.pidfile records `pid`, started at its current start time, for `config_path`."""
    record = read_record(config_path)
    return record is not None and record.pid == pid and start_time(pid) == record.start_time


def is_same_process(pid: int, recorded_start_time: int | None) -> bool:
    """True when `pid` is running and started at the recorded time (for pids without a config arg)."""
    return recorded_start_time is not None and is_running(pid) and start_time(pid) == recorded_start_time
