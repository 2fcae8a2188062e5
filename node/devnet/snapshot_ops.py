"""Snapshot and revert the whole devnet (every process's data dir), for the control endpoint.

Two paths, chosen per process and recorded in the results (`paths`, and `timings["paths"]` for a
revert): in process (node.devnet.inproc: each role holds itself at a block boundary and checkpoints
or swaps its own store, keeping its RPC server, libp2p host and peers) and, for a process that
cannot (a role without the methods, one paused with SIGSTOP, one that does not answer), the
original freeze-and-copy / kill-and-restart. ROLLUP_DEVNET_NO_INPROC=1 forces the latter for all.

Snapshot: read the heads; then, in order (L1, sequencer, the others), each process either
checkpoints itself and stays held (devnet_quiesceSnapshot with hold) or is stopped with SIGSTOP
(node.devnet.freeze) and its data dir copied into DIR/snapshots/<id>/<name>/ (node.devnet.datacopy:
SSTs hard-linked); then all are released (devnet_resume, SIGCONT; except the ones paused on
purpose). Every process is crash-safe, so the copy of a stopped process is a valid crash image.

Revert, in process: every process able to is quiesced first (devnet_quiesce, all at once), so
nothing from the abandoned future is sealed, gossiped, applied or sent to the L1 while some
processes are reverted and others not: an executor or the settler drops gossip while held (what
it dropped is in libp2p's seen cache and never delivered again), every reverted peer empties its
gossip message cache (no peer, a restarted one included, is served or replayed a block of the
abandoned chain later), and the settler's and challenger's L1 transactions wait for the release.
The processes that cannot revert in place are SIGKILLed at that point, before the L1 goes back,
so a stale settler or challenger cannot post to the reverted L1, and their data dirs are restored
from the snapshot. Then devnet_revertTo (held) on all the others at once (RevertPlan.in_place says
why the order does not matter), devnet_resume on all (each in one JSON-RPC batch with the reads of
its heads, node.devnet.inproc.release); the killed ones started again and waited for. A role whose
stores carry the snapshot's undo mark rewinds them in the open store (node.store.undo) instead of
exchanging its data dir and reopening RocksDB (`ways` in the answer: "undo" or "swap";
ROLLUP_DEVNET_NO_UNDO=1 asks every role to swap). devnet.json's held list is written while the
processes are quiesced. If the L1 or the sequencer cannot take the in-process path, or a revert of either fails, the
whole devnet takes the kill-and-restart path instead.

Revert, kill and restart: SIGKILL every process (their state is being thrown away), restore every
data dir from the snapshot (which is kept for later reverts; later snapshots are dropped): the old
dirs renamed aside and deleted in a thread while the processes start, the copies made in parallel;
start every process again in place (the L1 first, then all the others at once; forked by the fork
server, node.devnet.forkserver, or `starter`'s pre-imported standby, node.devnet.warm), wait until
all are healthy (polled every 20 ms).

Either way, the heads recorded at the snapshot are checked: the sequencer holds the recorded block
(hash and state root), the L1 is at or past its head (read with the release when every process
reverted in place, else read afterwards). `timings` has each step, and each role's own steps
(`inproc_<name>_<step>`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.devnet.children import KILL_TIMEOUT_S, Child, signal_child, stop_children
from node.devnet.datacopy import CopyStats, copy_trees, remove_trees, restore_trees
from node.devnet.errors import ControlRefusedError, DevnetError, StartupError
from node.devnet.forkserver.client import start_process
from node.devnet.freeze import freeze, is_stopped, thaw
from node.devnet.heads import heads_mismatch, read_heads
from node.devnet.inproc.client import MISSING, call_stage, stages
from node.devnet.inproc.control import QUIESCE, RESUME, REVERT, SNAPSHOT
from node.devnet.inproc.release import Released, release_and_read
from node.devnet.layout import ROLE_L1, ROLE_SEQUENCER, DevnetLayout, ProcessSpec
from node.devnet.liveness import split_processes
from node.devnet.procfs import is_running
from node.devnet.readiness import health, rpc_answers, wait_healthy
from node.devnet.snapshots import META_FILE, SnapshotRecord, SnapshotRegistry
from node.devnet.state import read_state, recorded_processes, set_held, update_state

REVERT_TIMEOUT_S = 60.0
QUIESCE_TIMEOUT_S = 10.0  # a process that cannot reach a block boundary this fast is restarted instead
REVERT_CALL_TIMEOUT_S = 20.0
NO_INPROC_ENV = "ROLLUP_DEVNET_NO_INPROC"
NO_UNDO_ENV = "ROLLUP_DEVNET_NO_UNDO"
IN_PROCESS = "in-process"
RESTARTED = "restarted"
FROZEN = "frozen"

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
    """Snapshot the running devnet; returns {id, heads, seconds, frozenSeconds, files, linked, bytesCopied, paths}."""
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
        copied = copy_processes(processes, tmp, paused)
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
        "frozenSeconds": round(copied.seconds, 4),
        "files": copied.stats.files,
        "linked": copied.stats.linked,
        "bytesCopied": copied.stats.bytes_copied,
        "paths": copied.paths,
    }


@dataclass
class SnapshotCopy:
    stats: CopyStats
    seconds: float  # how long the devnet was held or frozen
    paths: dict[str, str]  # process name -> IN_PROCESS (its own checkpoint) or FROZEN (SIGSTOP and copy)


def copy_processes(processes: list[tuple[ProcessSpec, int]], target: Path, paused: Collection[str]) -> SnapshotCopy:
    """Copy every process's data dir into target/<name>/: in process where it can, else frozen and copied."""
    if in_place_enabled():
        try:
            return copy_in_place(processes, target, paused)
        except InPlaceFailed:
            for entry in target.iterdir():
                shutil.rmtree(entry, ignore_errors=True)
    stats, frozen = copy_frozen(processes, target, paused)
    return SnapshotCopy(stats, frozen, {spec.name: FROZEN for spec, _ in processes})


def copy_in_place(processes: list[tuple[ProcessSpec, int]], target: Path, paused: Collection[str]) -> SnapshotCopy:
    """Each process, in order (L1, sequencer, the others), checkpoints itself and stays held until all are copied.

    A process without the method (or paused on purpose) is frozen at its place in that order and
    copied as before; any other refusal raises InPlaceFailed (everything held is released first).
    """
    began = time.monotonic()
    pids = {spec.name: pid for spec, pid in processes}
    asked: list[ProcessSpec] = []  # released at the end, whatever they answered (a late answer may hold)
    frozen: list[tuple[ProcessSpec, int]] = []
    paths: dict[str, str] = {}
    stats = CopyStats()
    try:
        for stage in stages([spec for spec, _ in processes]):
            asking = [spec for spec in stage if spec.name not in paused]
            asked += asking
            results, refusals = call_stage(asking, SNAPSHOT, lambda spec: [str(target / spec.name), {"hold": True}])
            for name, result in results.items():
                paths[name] = IN_PROCESS
                stats.files += int(result.get("files", 0))
                stats.linked += int(result.get("linked", 0))
                stats.bytes_copied += int(result.get("bytesCopied", 0))
            failed = [str(refusal) for refusal in refusals.values() if refusal.kind != MISSING]
            if failed:
                raise InPlaceFailed("; ".join(failed))
            rest = [(spec, pids[spec.name]) for spec in stage if spec.name not in results]
            freeze([pid for _, pid in rest])
            frozen += rest
            stats.add(copy_trees([(spec.data_dir, target / spec.name) for spec, _ in rest]))
            paths.update({spec.name: FROZEN for spec, _ in rest})
    finally:
        call_stage(asked, RESUME)
        thaw([pid for spec, pid in reversed(frozen) if spec.name not in paused])
    return SnapshotCopy(stats, time.monotonic() - began, {spec.name: paths[spec.name] for spec, _ in processes})


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
    """Put every process back to `snapshot`; returns {id, heads, snapshotHeads, dropped, seconds, timings, paths}."""
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
    timings: dict[str, float] = {"prepare": time.monotonic() - began}
    why = f"devnet revert to {snapshot}"
    deadline = time.monotonic() + timeout_s
    with ThreadPoolExecutor(max_workers=1) as writer:
        # devnet.json's held list (a supervisor then tolerates an exit) is written while the processes are
        # quiesced; the plan waits for it before anything can exit (a revert, a kill)
        holding = writer.submit(set_held, layout, add=names)
        plan = RevertPlan(layout, recorded, source, why, starter, deadline, timings, report, record.heads)
        plan.held_marked = holding.result
        try:
            outcome = plan.in_place() if in_place_enabled() else None
            if outcome is None:
                outcome = plan.restart_all()
        except StartupError:
            holding.result()
            set_held(layout, remove=names)
            raise
        holding.result()
    mark = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as writer:
        unholding = writer.submit(set_held, layout, remove=names)  # devnet.json, while the check runs
        try:
            dropped, heads = _check_heads(plan, outcome, record, recorded, registry)
        finally:
            unholding.result()
    timings["check"] = time.monotonic() - mark
    report(f"reverted to {snapshot} in {time.monotonic() - began:.2f} s ({_paths_summary(outcome.paths)})")
    return {
        "id": record.id,
        "heads": heads,
        "snapshotHeads": record.heads,
        "dropped": dropped,
        "seconds": round(time.monotonic() - began, 4),
        "timings": {**{key: round(value, 4) for key, value in timings.items()}, "paths": outcome.paths},
        "paths": outcome.paths,
        "ways": plan.ways,
        "bytesCopied": outcome.bytes_copied,
    }


def _check_heads(
    plan: RevertPlan,
    outcome: RevertOutcome,
    record: SnapshotRecord,
    recorded: list[tuple[ProcessSpec, int | None]],
    registry: SnapshotRegistry,
) -> tuple[list[str], dict[str, Any]]:
    """The heads recorded at the snapshot checked; (later snapshots dropped, every process's heads)."""
    specs = [spec for spec, _ in recorded]
    if plan.released is not None and all(path == IN_PROCESS for path in outcome.paths.values()):
        problems, heads = plan.released.problems, plan.released.heads  # read with the release
    else:
        # the chain's sources: an executor or challenger may have reorged between the heads' read and the stop
        sources = [spec for spec in specs if spec.role in (ROLE_L1, ROLE_SEQUENCER)]
        with ThreadPoolExecutor(max_workers=2) as pool:  # both only read: at once
            checking = pool.submit(heads_mismatch, record.heads, sources)
            reading = pool.submit(read_heads, specs)
            problems, heads = checking.result(), reading.result()
    if problems:
        raise ControlRefusedError(
            f"after the revert to {record.id} the chain is not the snapshot's: {'; '.join(problems)}"
        )
    return registry.drop_after(record.number), heads


def _paths_summary(paths: dict[str, str]) -> str:
    kinds = sorted(set(paths.values()))
    return ", ".join(f"{kind}: {', '.join(n for n, k in paths.items() if k == kind)}" for kind in kinds)


def undo_enabled() -> bool:
    """Roles rewind their open stores by the undo log unless ROLLUP_DEVNET_NO_UNDO is set (they swap and reopen)."""
    return os.environ.get(NO_UNDO_ENV, "") in ("", "0")


def in_place_enabled() -> bool:
    """In-process snapshots and reverts unless ROLLUP_DEVNET_NO_INPROC is set (to measure or test the other path)."""
    return os.environ.get(NO_INPROC_ENV, "") in ("", "0")


class InPlaceFailed(DevnetError):
    """The in-process path could not be finished: the kill-and-restart path takes over (from scratch)."""


@dataclass
class RevertOutcome:
    paths: dict[str, str]  # process name -> IN_PROCESS or RESTARTED
    bytes_copied: int = 0


class RevertPlan:
    """One revert: in place where every process can (node.devnet.inproc), else kill and restart."""

    def __init__(
        self,
        layout: DevnetLayout,
        recorded: list[tuple[ProcessSpec, int | None]],
        source: Path,
        why: str,
        starter: Callable[[ProcessSpec, str], Child],
        deadline: float,
        timings: dict[str, float],
        report: Report,
        recorded_heads: dict[str, Any] | None = None,
    ) -> None:
        self.layout = layout
        self.recorded = recorded
        self.source = source
        self.why = why
        self.starter = starter
        self.deadline = deadline
        self.timings = timings
        self.report = report
        self.pids = {spec.name: pid for spec, pid in recorded}
        self.ways: dict[str, str] = {}  # process name -> how it reverted in place ("undo" or "swap")
        self.recorded_heads = recorded_heads or {}
        self.released: Released | None = None  # the release's answers, with every process's heads
        self.held_marked: Callable[[], object] = lambda: None  # waits until devnet.json lists every process held

    # -- the kill-and-restart path --

    def restart_all(self) -> RevertOutcome:
        """SIGKILL every process, restore every data dir, start the L1, then all the others; wait for health."""
        self.held_marked()
        self.timings.clear()
        self.released = None
        mark = time.monotonic()
        kill_all(self.recorded)
        self.timings["kill"] = time.monotonic() - mark
        specs = [spec for spec, _ in self.recorded]
        stats = self._restore(specs)
        self._start_and_wait(specs)
        return RevertOutcome({spec.name: RESTARTED for spec in specs}, stats.bytes_copied)

    def _restore(self, specs: list[ProcessSpec]) -> CopyStats:
        if not specs:
            return CopyStats()
        mark = time.monotonic()
        stats, old = restore_trees([(self.source / spec.name, spec.data_dir) for spec in specs])
        self.timings["restore"] = self.timings.get("restore", 0.0) + time.monotonic() - mark
        # the replaced data dirs are deleted while the processes start
        parents = sorted({spec.data_dir.parent for spec in specs})
        threading.Thread(target=remove_trees, args=(old, parents), name="revert-cleanup", daemon=True).start()
        return stats

    def _start_and_wait(self, specs: list[ProcessSpec]) -> None:
        """Start `specs` (the L1 among them first, waited for), record their pids, wait until all are healthy."""
        if not specs:
            return
        mark = time.monotonic()
        # the L1 first: everything else waits for it (with a retry backoff of 0.5-1 s when it does not answer yet)
        first = [self.starter(spec, self.why) for spec in specs if spec.role == ROLE_L1]
        children = list(first)
        try:
            ready = wait_all_healthy(first, self.deadline)
            children += [self.starter(spec, self.why) for spec in specs if spec.role != ROLE_L1]
            pids = {child.spec.name: child.pid for child in children}
            update_state(self.layout, lambda current: _set_pids(current, pids))
            rest = wait_all_healthy(children[len(first) :], self.deadline)
            ready.update({name: round(seconds + ready.get("l1", 0.0), 4) for name, seconds in rest.items()})
        except StartupError:
            stop_children(children)
            raise
        self.timings["healthy"] = time.monotonic() - mark
        self.timings.update({f"ready_{name}": seconds for name, seconds in ready.items()})

    # -- the in-process path --

    def in_place(self) -> RevertOutcome | None:
        """Revert in place every process that can; None (nothing changed) when the L1 or the sequencer cannot.

        Every process is quiesced before any is reverted, so no block is sealed, gossiped or
        applied from the abandoned future while some are reverted and some not (their order does
        not matter then: all of it is thrown away, and all are quiesced with one parallel call);
        the processes that cannot revert in place (no such method, SIGSTOPped, not answering) are
        killed then, before the L1 goes back (a stale settler must not post to the reverted L1),
        and restarted on their restored data dirs once the others resume. Then all revert at
        once: a role reopening reads only L1 blocks at or below its own copy's cursor, which are
        the same on the L1 before and after its revert (the L1 never reorgs, and its swap is
        atomic for its RPC: no await between closing and reopening its store); whatever depends
        on the L1's newest state (the sequencer's L1 poll, the settler's outputs, the executor's
        finality, the challenger's referee) runs in the loops, which start on the release. All
        are released at once (held until then, none makes, sends or takes anything of the
        abandoned chain, whatever the order they resume in).
        """
        specs = [spec for spec, _ in self.recorded]
        running = {
            spec.name for spec, pid in self.recorded if pid is not None and is_running(pid) and not is_stopped(pid)
        }
        mark = time.monotonic()
        asked = [spec for spec in specs if spec.name in running]
        results, refusals = call_stage(asked, QUIESCE, timeout_s=QUIESCE_TIMEOUT_S)  # all at once: see below
        held = [spec for spec in asked if spec.name in results]
        restart = [spec for spec in specs if spec.name not in results]
        for refusal in refusals.values():
            if refusal.kind != MISSING:
                self.report(f"in-process revert: {refusal}")
        if any(spec.role in (ROLE_L1, ROLE_SEQUENCER) for spec in restart):
            call_stage(held, RESUME)
            return None
        self.timings["quiesce"] = time.monotonic() - mark
        try:
            return self._revert_held(held, restart)
        except InPlaceFailed as exc:
            self.report(f"in-process revert failed ({exc}): killing and restarting every process")
            return self.restart_all()

    def _revert_held(self, held: list[ProcessSpec], restart: list[ProcessSpec]) -> RevertOutcome:
        mark = time.monotonic()
        self.held_marked()
        kill_all([(spec, self.pids.get(spec.name)) for spec in restart])
        self.timings["kill"] = time.monotonic() - mark
        stats = self._restore(restart)
        mark = time.monotonic()
        # all at once (in_place's docstring)
        options = {"hold": True, "undo": undo_enabled()}
        results, refusals = call_stage(
            held, REVERT, lambda spec: [str(self.source / spec.name), options], REVERT_CALL_TIMEOUT_S
        )
        for name, result in results.items():
            self.timings[f"inproc_{name}"] = float(result.get("seconds", 0.0))
            self.ways[name] = str(result.get("way", "swap"))
            steps = result.get("timings")
            if isinstance(steps, dict):
                for step, seconds in steps.items():
                    if isinstance(seconds, int | float):
                        self.timings[f"inproc_{name}_{step}"] = float(seconds)
        reverted = [spec for spec in held if spec.name in results]
        failed = [spec for spec in held if spec.name in refusals]
        if any(spec.role in (ROLE_L1, ROLE_SEQUENCER) for spec in failed):
            raise InPlaceFailed("; ".join(str(refusals[spec.name]) for spec in failed))
        for spec in failed:  # an executor, settler or challenger that could not: restarted like the others
            self.report(f"in-process revert: {refusals[spec.name]}; restarting it")
            kill_all([(spec, self.pids.get(spec.name))])
            stats.add(self._restore([spec]))
            restart.append(spec)
        self.timings["revert_in_place"] = time.monotonic() - mark
        mark = time.monotonic()
        self.released = release_and_read(reverted, self.recorded_heads)  # the heads' check in the same requests
        refusals = self.released.refusals
        self.timings["resume"] = time.monotonic() - mark
        for spec in [spec for spec in reverted if spec.name in refusals]:  # e.g. killed meanwhile: restarted
            self.report(f"in-process revert: {refusals[spec.name]}; restarting it")
            kill_all([(spec, self.pids.get(spec.name))])
            stats.add(self._restore([spec]))
            reverted.remove(spec)
            restart.append(spec)
        self._start_and_wait(restart)
        paths = {spec.name: IN_PROCESS for spec in reverted} | {spec.name: RESTARTED for spec in restart}
        return RevertOutcome({spec.name: paths[spec.name] for spec, _ in self.recorded}, stats.bytes_copied)


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
