"""Which of a devnet.json's recorded processes (and its foreground supervisor) are still running.

A recorded pid counts only while /proc/<pid>/cmdline still holds its config path, or while it is the
fork recorded for that config with the same start time (node.devnet.pidfile); the supervisor: while
its start time matches. So a reused pid is never mistaken for ours.
"""

from __future__ import annotations

from typing import Any

from node.devnet.layout import ProcessSpec
from node.devnet.procfs import is_our_process, is_same_process
from node.devnet.state import recorded_processes


def is_alive(spec: ProcessSpec, pid: int | None) -> bool:
    return pid is not None and is_our_process(pid, str(spec.config))


def live_supervisor(doc: dict[str, Any]) -> int | None:
    """The pid of the foreground `devnet up` supervising this devnet, if it still runs."""
    supervisor = doc.get("supervisor")
    if isinstance(supervisor, dict) and isinstance(supervisor.get("pid"), int):
        if is_same_process(supervisor["pid"], supervisor.get("start_time")):
            return int(supervisor["pid"])
    return None


def split_processes(doc: dict[str, Any]) -> tuple[list[tuple[ProcessSpec, int]], list[ProcessSpec]]:
    """(alive processes with their pids, dead processes), each in start order."""
    alive: list[tuple[ProcessSpec, int]] = []
    dead: list[ProcessSpec] = []
    for spec, pid in recorded_processes(doc):
        if pid is not None and is_alive(spec, pid):
            alive.append((spec, pid))
        else:
            dead.append(spec)
    return alive, dead
