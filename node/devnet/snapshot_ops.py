"""Snapshot and revert the whole devnet (every process's data dir), for the control endpoint.

Snapshot: read the heads, SIGSTOP every process (L1 first, node.devnet.freeze), copy each data
dir into DIR/snapshots/<id>/<name>/ (node.devnet.datacopy: SSTs hard-linked), SIGCONT them all
(except the ones paused on purpose). Every process is crash-safe, so the copy of a stopped
process is a valid crash image.

Revert: SIGKILL every process (their state is being thrown away), restore every data dir from
the snapshot (which is kept for later reverts; later snapshots are dropped): the old dirs renamed
aside and deleted in a thread while the processes start, the copies made in parallel; start every
process again in place (the L1 first, then all the others at once; forked by the fork server,
node.devnet.forkserver, or `starter`'s pre-imported standby, node.devnet.warm), wait until all are
healthy (polled every 20 ms), and check the heads recorded at the snapshot: the sequencer holds the
recorded block (hash and state root), the L1 is at or past its head. `timings` has each step.
"""

from __future__ import annotations

import json
import shutil
import signal
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from node.devnet.children import KILL_TIMEOUT_S, Child, signal_child, stop_children
from node.devnet.datacopy import CopyStats, copy_trees, remove_trees, restore_trees
from node.devnet.errors import ControlRefusedError, StartupError
from node.devnet.forkserver.client import start_process
from node.devnet.freeze import freeze, thaw
from node.devnet.heads import heads_mismatch, read_heads
from node.devnet.layout import ROLE_L1, ROLE_SEQUENCER, DevnetLayout, ProcessSpec
from node.devnet.liveness import split_processes
from node.devnet.procfs import is_running
from node.devnet.readiness import health, rpc_answers, wait_healthy
from node.devnet.snapshots import META_FILE, SnapshotRecord, SnapshotRegistry
from node.devnet.state import read_state, recorded_processes, set_held, update_state

REVERT_TIMEOUT_S = 60.0

Report = Callable[[str], None]


def instance_of(doc: dict[str, Any]) -> str:
    instance = doc.get("instance")
    if not isinstance(instance, str) or not instance:
        raise ControlRefusedError("devnet.json has no chain instance id: restart the devnet with this version")
    return instance


def registry_for(layout: DevnetLayout, doc: dict[str, Any]) -> SnapshotRegistry:
    return SnapshotRegistry(layout.snapshots_dir, instance_of(doc))


def running_processes(layout: DevnetLayout, doc: dict[str, Any], what: str) -> list[tuple[ProcessSpec, int]]:
    """Every recorded process with its pid, in start order; ControlRefusedError when one is down."""
    alive, dead = split_processes(doc)
    if dead:
        names = ", ".join(spec.name for spec in dead)
        raise ControlRefusedError(
            f"cannot {what}: {names} {'is' if len(dead) == 1 else 'are'} not running "
            f"(restart with `rollup devnet restart NAME --dir {layout.root}` or devnet_restart)"
        )
    return alive


def copy_frozen(
    processes: list[tuple[ProcessSpec, int]], target: Path, paused: Collection[str]
) -> tuple[CopyStats, float]:
    """Freeze `processes`, copy their data dirs into target/<name>/, thaw them; returns (stats, seconds frozen)."""
    pids = [pid for _, pid in processes]
    began = time.monotonic()
    freeze(pids)
    try:
        stats = copy_trees([(spec.data_dir, target / spec.name) for spec, _ in processes])
    finally:
        thaw([pid for spec, pid in reversed(processes) if spec.name not in paused])
    return stats, time.monotonic() - began


def take_snapshot(layout: DevnetLayout, paused: Collection[str] = ()) -> dict[str, Any]:
    """Snapshot the running devnet; returns {id, heads, seconds, frozenSeconds, files, linked, bytesCopied}."""
    began = time.monotonic()
    doc = read_state(layout)
    processes = running_processes(layout, doc, "take a snapshot")
    registry = registry_for(layout, doc)
    heads = read_heads([spec for spec, _ in processes if spec.name not in paused])  # a paused one cannot answer
    snapshot = registry.allocate()
    target = registry.path(snapshot)
    tmp = target.with_name(f".{snapshot}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        stats, frozen = copy_frozen(processes, tmp, paused)
        record = SnapshotRecord(snapshot, registry.next_number - 1, time.time(), heads)
        (tmp / META_FILE).write_text(json.dumps(record.to_json(), indent=2) + "\n")
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        registry.save()  # the id stays used
        raise
    registry.add(record)
    return {
        "id": snapshot,
        "heads": heads,
        "seconds": round(time.monotonic() - began, 4),
        "frozenSeconds": round(frozen, 4),
        "files": stats.files,
        "linked": stats.linked,
        "bytesCopied": stats.bytes_copied,
    }


def kill_all(processes: list[tuple[ProcessSpec, int | None]]) -> None:
    """SIGKILL every process's group (stopped ones too) and wait until they are gone."""
    children = [Child(spec, pid) for spec, pid in processes if pid is not None]
    for child in reversed(children):
        signal_child(child, signal.SIGKILL, group=True)
    deadline = time.monotonic() + KILL_TIMEOUT_S
    pending = [child.pid for child in children]
    while pending and time.monotonic() < deadline:
        pending = [pid for pid in pending if is_running(pid)]  # a zombie counts as gone: ports and locks are free
        if pending:
            time.sleep(0.002)


def cold_start(spec: ProcessSpec, why: str) -> Child:
    """Start `spec` detached: forked by the devnet's fork server when it runs, else `python -m`."""
    return start_process(spec, detach=True, why=why)


def revert_to(
    layout: DevnetLayout,
    snapshot: str,
    report: Report = lambda line: None,
    timeout_s: float = REVERT_TIMEOUT_S,
    starter: Callable[[ProcessSpec, str], Child] = cold_start,
) -> dict[str, Any]:
    """Put every process back to `snapshot` and restart them; returns {id, heads, dropped, seconds, timings}."""
    began = time.monotonic()
    doc = read_state(layout)
    registry = registry_for(layout, doc)
    record = registry.find(snapshot)
    source = registry.path(record.id)
    recorded = recorded_processes(doc)
    names = [spec.name for spec, _ in recorded]
    missing = [name for name in names if not (source / name).is_dir()]
    if missing:
        raise ControlRefusedError(
            f"snapshot {snapshot} has no copy of {', '.join(missing)} (taken with other processes)"
        )
    set_held(layout, add=names)
    timings: dict[str, float] = {}
    mark = time.monotonic()
    kill_all(recorded)
    timings["kill"] = time.monotonic() - mark
    mark = time.monotonic()
    stats, old = restore_trees([(source / spec.name, spec.data_dir) for spec, _ in recorded])
    timings["restore"] = time.monotonic() - mark
    # the replaced data dirs are deleted while the processes start
    parents = sorted({spec.data_dir.parent for spec, _ in recorded})
    threading.Thread(target=remove_trees, args=(old, parents), name="revert-cleanup", daemon=True).start()
    mark = time.monotonic()
    why = f"devnet revert to {snapshot}"
    deadline = time.monotonic() + timeout_s
    # the L1 first: everything else waits for it (with a retry backoff of 0.5-1 s when it does not answer yet)
    first = [starter(spec, why) for spec, _ in recorded if spec.role == ROLE_L1]
    children = list(first)
    try:
        ready = wait_all_healthy(first, deadline)
        children += [starter(spec, why) for spec, _ in recorded if spec.role != ROLE_L1]
        pids = {child.spec.name: child.pid for child in children}
        update_state(layout, lambda current: _set_pids(current, pids))
        rest = wait_all_healthy(children[len(first) :], deadline)
        ready.update({name: round(seconds + ready.get("l1", 0.0), 4) for name, seconds in rest.items()})
    except StartupError:
        stop_children(children)
        set_held(layout, remove=names)
        raise
    timings["healthy"] = time.monotonic() - mark
    timings.update({f"ready_{name}": seconds for name, seconds in ready.items()})
    set_held(layout, remove=names)
    # the chain's sources: an executor or challenger may have reorged between the heads' read and the stop
    problems = heads_mismatch(record.heads, [c.spec for c in children if c.spec.role in (ROLE_L1, ROLE_SEQUENCER)])
    if problems:
        raise ControlRefusedError(
            f"after the revert to {snapshot} the chain is not the snapshot's: {'; '.join(problems)}"
        )
    dropped = registry.drop_after(record.number)
    heads = read_heads([child.spec for child in children])
    report(f"reverted to {snapshot} in {time.monotonic() - began:.2f} s")
    return {
        "id": record.id,
        "heads": heads,
        "snapshotHeads": record.heads,
        "dropped": dropped,
        "seconds": round(time.monotonic() - began, 4),
        "timings": {key: round(value, 4) for key, value in timings.items()},
        "bytesCopied": stats.bytes_copied,
    }


def wait_all_healthy(children: list[Child], deadline: float, poll_s: float = 0.02) -> dict[str, float]:
    """Wait until every child answers /health and JSON-RPC; returns each one's seconds to ready.

    Polls more often than `devnet up` does (a revert's whole cost is this wait); on the deadline or a
    child's exit, node.devnet.readiness.wait_healthy raises StartupError naming the culprit.
    """
    began = time.monotonic()
    ready: dict[str, float] = {}
    while len(ready) < len(children) and time.monotonic() < deadline:
        for child in children:
            if child.spec.name in ready:
                continue
            if not child.alive():
                break
            if health(child.spec, 1.0) is not None and rpc_answers(child.spec, 1.0):
                ready[child.spec.name] = round(time.monotonic() - began, 4)
        else:
            if len(ready) < len(children):
                time.sleep(poll_s)
            continue
        break
    pending = [child for child in children if child.spec.name not in ready]
    if pending:
        wait_healthy(pending, deadline, lambda: False)  # raises StartupError with the log tail
    return ready


def _set_pids(doc: dict[str, Any], pids: dict[str, int]) -> None:
    for entry in doc["processes"]:
        if isinstance(entry, dict) and entry.get("name") in pids:
            entry["pid"] = pids[entry["name"]]
