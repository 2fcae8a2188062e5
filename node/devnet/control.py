"""`devnet down` and `devnet status`: act on the processes recorded in devnet.json.

A recorded pid is only signalled while it is still ours (node.devnet.liveness),
so a reused pid is never touched.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from typing import Any

from node.devnet.children import STOP_TIMEOUT_S, Child, stop_children
from node.devnet.layout import ROLE_L1, DevnetLayout, ProcessSpec
from node.devnet.liveness import is_alive, live_supervisor
from node.devnet.procfs import is_running
from node.devnet.readiness import health_state
from node.devnet.state import read_state, recorded_processes, update_state
from node.rpc.client import RpcTransportError, SyncRpcClient
from node.rpc.errors import RpcError

SUPERVISOR_GRACE_S = 30.0
STATUS_TIMEOUT_S = 2.0

Report = Callable[[str], None]


def down(layout: DevnetLayout, report: Report, timeout_s: float = STOP_TIMEOUT_S) -> dict[str, Any]:
    """Stop every recorded process; returns {dir, processes: [{name, pid, result}]}."""
    doc = read_state(layout)
    recorded = recorded_processes(doc)
    before = {spec.name: is_alive(spec, pid) for spec, pid in recorded}
    _stop_supervisor(doc, recorded, report)
    from node.devnet.controlproc import stop_control  # the control endpoint goes first: it could restart roles

    stop_control(doc, report)
    children = [Child(spec, pid) for spec, pid in recorded if pid is not None]
    killed = set(stop_children(children, timeout_s, report))
    from node.devnet.forkserver.client import stop_fork_server

    stop_fork_server(layout)
    results = []
    for spec, pid in recorded:
        if not before[spec.name]:
            result = "not running"
        elif spec.name in killed:
            result = "killed"
        else:
            result = "stopped"
        if is_alive(spec, pid):
            result = "still running"
        results.append({"name": spec.name, "pid": pid, "result": result})
    update_state(layout, lambda current: current.update(status="stopped", supervisor=None))
    return {"dir": str(layout.root), "processes": results}


def _stop_supervisor(doc: dict[str, Any], recorded: list[tuple[ProcessSpec, int | None]], report: Report) -> None:
    """A foreground `devnet up` stops its children in order itself: ask it, then wait for them."""
    pid = live_supervisor(doc)
    if pid is None or pid == os.getpid():
        return
    report(f"asking the foreground `devnet up` (pid {pid}) to stop the devnet")
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + SUPERVISOR_GRACE_S
    while time.monotonic() < deadline:
        if not is_running(pid) and not any(is_alive(spec, p) for spec, p in recorded):
            return
        time.sleep(0.1)


def status(layout: DevnetLayout) -> dict[str, Any]:
    """Each recorded process with its pid, liveness, health and chain heads."""
    doc = read_state(layout)
    processes = [_process_status(spec, pid) for spec, pid in recorded_processes(doc)]
    from node.devnet.controlproc import running_control

    control = doc.get("control") if isinstance(doc.get("control"), dict) else None
    return {
        "dir": str(layout.root),
        "status": doc.get("status"),
        "control": None
        if control is None
        else {"rpc": control.get("rpc"), "pid": control.get("pid"), "alive": running_control(doc) is not None},
        "all_alive": all(entry["alive"] for entry in processes),
        "down": [entry["name"] for entry in processes if not entry["alive"]],
        "processes": processes,
    }


def _process_status(spec: ProcessSpec, pid: int | None) -> dict[str, Any]:
    alive = is_alive(spec, pid)
    entry: dict[str, Any] = {"name": spec.name, "role": spec.role, "pid": pid, "alive": alive, "rpc": spec.rpc}
    state = health_state(spec, STATUS_TIMEOUT_S) if alive else None
    entry["health"] = state if state is not None else ("unreachable" if alive else "down")
    if not alive:
        return entry
    client = SyncRpcClient(spec.rpc, timeout=STATUS_TIMEOUT_S)
    try:
        if spec.role == ROLE_L1:
            entry["l1_head"] = int(client.call("l1_blockNumber"))
        elif spec.is_l2_node:
            sync = client.call("rollup_syncStatus")
            entry.update(
                unsafe=sync["unsafe"]["number"],
                safe=sync["safe"]["number"],
                finalized=sync["finalized"]["number"],
                l1_head=sync["l1Head"],
            )
            p2p = sync.get("p2p", {})
            if p2p.get("enabled"):
                entry["peers"] = len(p2p.get("peers", []))
    except (RpcError, RpcTransportError, KeyError, TypeError, ValueError) as exc:
        entry["error"] = str(exc)
    return entry
