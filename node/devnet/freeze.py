"""Pause and resume devnet processes with SIGSTOP / SIGCONT (their whole process group).

`freeze` returns only once every thread of every process is in the stopped state ("T" in
/proc/<pid>/task/*/stat), so a data directory copied afterwards is what a crash at that moment
would leave on disk: the processes are crash-safe, so that copy is a valid image to restart from.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from node.devnet.errors import ControlRefusedError

STOPPED_STATES = frozenset({"T", "t", "Z", "X"})
FREEZE_TIMEOUT_S = 5.0


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def thread_states(pid: int) -> list[str]:
    """The scheduler state letter of each thread of `pid` ([] once it is gone)."""
    states = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return []
    for task in tasks:
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        states.append(stat[stat.rindex(")") + 2 :].split(" ", 1)[0])
    return states


def is_stopped(pid: int) -> bool:
    return all(state in STOPPED_STATES for state in thread_states(pid))


def freeze(pids: Sequence[int], timeout_s: float = FREEZE_TIMEOUT_S) -> None:
    """SIGSTOP each process in order and wait until all of them are stopped."""
    for pid in pids:
        _signal_group(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout_s
    pending = list(pids)
    while pending:
        pending = [pid for pid in pending if not is_stopped(pid)]
        if not pending:
            return
        if time.monotonic() > deadline:
            thaw(pids)
            raise ControlRefusedError(f"process(es) {pending} did not stop within {timeout_s:.0f} s of SIGSTOP")
        time.sleep(0.001)


def thaw(pids: Sequence[int]) -> None:
    """SIGCONT each process (in the order given)."""
    for pid in pids:
        _signal_group(pid, signal.SIGCONT)
