"""The devnet-only JSON-RPC methods by which a role snapshots and reverts itself in place.

    devnet_quiesce()                        -> {"held": true}     reach a block boundary and hold there
    devnet_resume()                         -> {"held": false}    release a hold (idempotent)
    devnet_quiesceSnapshot(dir, {"hold"?})  -> {"dir", "seconds", "stores", "files", "linked", "bytesCopied", ...}
    devnet_revertTo(dir, {"hold"?, "undo"?}) -> {"dir", "seconds", "timings", "held", "way"}

devnet_quiesceSnapshot holds the role at a block boundary, marks each of its stores with the
snapshot's id (node.store.undo: from then on every write is undoable back to the mark), writes a
consistent copy of its data dir into `dir` (node.devnet.inproc.copying; the copy has the mark too)
and releases it, unless `hold` is true.

devnet_revertTo, by the undo log ("way": "undo"; unless `undo` is false, or a store lacks the
snapshot's mark, e.g. after a snapshot taken by freezing the process): holds, stops the loops,
closes the stores the role's own way but keeps their RocksDB handles open (node.store.kv.keep_open),
puts back every other file from `dir` (node.devnet.inproc.sidefiles), rewinds each store to the
mark in one atomic batch, loads the clock offset, rebuilds the role as on a restart (its reopen
takes the kept handles) and starts its loops. A kill -9 during it leaves the store either before or
after its rewind batch, with the side files possibly put back already: the devnet's revert, which
sees the process gone, restores its whole data dir from the copy and restarts it (as for the swap).

Otherwise ("way": "swap") devnet_revertTo
stages a copy of `dir` beside the data dir, holds, stops the loops, closes the store, exchanges the
data dir for the copy in one step (node.devnet.inproc.swap; `dir` stays reusable), loads the
devnet clock offset the copy holds, rebuilds the role (node.devnet.inproc.reloadable) and starts
its loops again; held afterwards when `hold` is true. The RPC server, the libp2p host and its
peers are kept. A hold not released by devnet_resume ends by itself after HOLD_LEASE_S (a control
endpoint that died mid-revert must not leave the devnet stopped).

Refusals: a process not started in devnet mode answers ControlDisabled (-32008); `dir` must be this
process's own copy inside the devnet's snapshots directory (node.devnet.inproc.paths), else
InvalidParams (-32602); a call while another of these runs is ControlRefused (-32003). A revert
that fails before the exchange leaves the role as it was (ControlRefused); one that fails after it
ends the process (the devnet's kill-and-restart path then restarts it on the swapped dir).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.clock import PROCESS_CLOCK, ChainClock
from node.devnet.inproc.copying import checkpoint_tree
from node.devnet.inproc.paths import resolve_snapshot_dir, snapshot_id
from node.devnet.inproc.reloadable import Reloadable
from node.devnet.inproc.sidefiles import restore_side_files
from node.devnet.inproc.swap import SwapError, discard, stage, swap_in
from node.rpc.errors import ControlDisabled, ControlRefused, InvalidParams
from node.rpc.params import positional
from node.rpc.server import RpcServer
from node.store.kv import keep_open

log = logging.getLogger("devnet.inproc")

QUIESCE = "devnet_quiesce"
RESUME = "devnet_resume"
SNAPSHOT = "devnet_quiesceSnapshot"
REVERT = "devnet_revertTo"
METHODS = (QUIESCE, RESUME, SNAPSHOT, REVERT)
HOLD_LEASE_S = 30.0
UNDO = "undo"  # how a revert went: the stores rewound in place (node.store.undo)
SWAP = "swap"  # the data dir exchanged for a staged copy, the stores closed and opened again

Handler = Callable[[list[Any]], Coroutine[Any, Any, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class RevertOptions:
    hold: bool = False
    undo: bool = True  # rewind the open stores by their undo log where they have the snapshot's mark


def parse_revert_options(value: Any) -> RevertOptions:
    """devnet_revertTo's optional second parameter: {"hold"?: bool, "undo"?: bool}."""
    if value is None:
        return RevertOptions()
    if not isinstance(value, dict):
        raise InvalidParams(f'{REVERT}: options must be an object such as {{"hold": true}}, got {value!r}')
    unknown = set(value) - {"hold", "undo"}
    if unknown:
        raise InvalidParams(f"{REVERT}: unknown option(s) {sorted(unknown)} (only 'hold' and 'undo')")
    for key in ("hold", "undo"):
        if not isinstance(value.get(key, False), bool):
            raise InvalidParams(f"{REVERT}: {key} must be true or false, got {value[key]!r}")
    return RevertOptions(value.get("hold", False), value.get("undo", True))


def parse_options(value: Any, method: str) -> bool:
    """The optional second parameter, {"hold": bool}; returns hold."""
    if value is None:
        return False
    if not isinstance(value, dict):
        raise InvalidParams(f'{method}: options must be an object such as {{"hold": true}}, got {value!r}')
    unknown = set(value) - {"hold"}
    if unknown:
        raise InvalidParams(f"{method}: unknown option(s) {sorted(unknown)} (only 'hold')")
    hold = value.get("hold", False)
    if not isinstance(hold, bool):
        raise InvalidParams(f"{method}: hold must be true or false, got {hold!r}")
    return hold


class InprocControl:
    """The four methods over one role; at most one runs at a time."""

    def __init__(self, role: str, target: Reloadable, clock: ChainClock = PROCESS_CLOCK) -> None:
        self.role = role
        self.target = target
        self.clock = clock
        self._busy: str | None = None
        self._lease: asyncio.TimerHandle | None = None

    def handlers(self) -> dict[str, Handler]:
        return {QUIESCE: self.quiesce, RESUME: self.resume, SNAPSHOT: self.quiesce_snapshot, REVERT: self.revert_to}

    @contextmanager
    def _exclusive(self, method: str) -> Iterator[None]:
        if self._busy is not None:
            raise ControlRefused(f"{method}: {self._busy} is in progress on this {self.role}; call again after it")
        self._busy = method
        try:
            yield
        finally:
            self._busy = None

    # -- the methods --

    async def quiesce(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, QUIESCE)
        with self._exclusive(QUIESCE):
            await self.target.hold()
            self._arm_lease()
        return {"held": True}

    async def resume(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, RESUME)
        with self._exclusive(RESUME):
            self._release()
        return {"held": False}

    async def quiesce_snapshot(self, params: list[Any]) -> dict[str, Any]:
        args = positional(params, 1, 1, SNAPSHOT)
        hold = parse_options(args[1] if len(args) > 1 else None, SNAPSHOT)
        target = resolve_snapshot_dir(args[0], self.target.data_dir, must_exist=False)
        with self._exclusive(SNAPSHOT):
            began = time.monotonic()
            await self.target.hold()
            try:
                for store in self.target.stores():  # before the copy: the copy has the mark too
                    store.mark(snapshot_id(target))
                stats = checkpoint_tree(self.target.data_dir, target, self.target.stores())
            finally:
                self._release() if not hold else self._arm_lease()
        return {
            "dir": str(target),
            "seconds": round(time.monotonic() - began, 4),
            "stores": stats.stores,
            "checkpoints": stats.checkpoints,
            "files": stats.files,
            "linked": stats.linked,
            "bytesCopied": stats.bytes_copied,
            "held": hold,
        }

    async def revert_to(self, params: list[Any]) -> dict[str, Any]:
        args = positional(params, 1, 1, REVERT)
        options = parse_revert_options(args[1] if len(args) > 1 else None)
        hold = options.hold
        source = resolve_snapshot_dir(args[0], self.target.data_dir, must_exist=True)
        with self._exclusive(REVERT):
            began = time.monotonic()
            way = UNDO if options.undo and self._can_undo(source) else SWAP
            timings = await (self._revert_by_undo(source) if way == UNDO else self._revert(source))
            self._release() if not hold else self._arm_lease()
        log.info(
            "devnet: %s reverted in place (%s) to %s in %.1f ms",
            self.role,
            way,
            source,
            1000 * (time.monotonic() - began),
        )
        return {
            "dir": str(source),
            "seconds": round(time.monotonic() - began, 4),
            "timings": timings,
            "held": hold,
            "way": way,
        }

    # -- steps --

    def _can_undo(self, source: Path) -> bool:
        """Every open store has the snapshot's undo mark and the copy has each store's directory."""
        snapshot = snapshot_id(source)
        data_dir = Path(os.path.abspath(self.target.data_dir))
        for store in self.target.stores():
            path = Path(os.path.abspath(store.path))
            if not path.is_relative_to(data_dir) or not (source / path.relative_to(data_dir)).is_dir():
                return False
            if snapshot not in store.undo_marks():
                return False
        return True

    async def _revert_by_undo(self, source: Path) -> dict[str, float]:
        """The stores rewound in place to the snapshot's mark (node.store.undo), never closed; the other files
        put back from the copy (node.devnet.inproc.sidefiles); the role rebuilt from them as on a restart.

        A failure once anything is changed ends the process: the devnet restores its data dir from the copy
        and restarts it (node.devnet.snapshot_ops)."""
        data_dir = self.target.data_dir
        snapshot = snapshot_id(source)
        timings: dict[str, float] = {}
        mark = time.monotonic()
        await self.target.hold()
        await self.target.stop_loops()
        stores = list(self.target.stores())
        timings["stop"] = _lap(mark)
        try:
            with keep_open():
                mark = time.monotonic()
                self.target.close_stores()  # kept open (keep_open): the role's own close, as before a restart
                side = restore_side_files(source, data_dir, [store.path for store in stores])
                timings["files"] = _lap(mark)
                mark = time.monotonic()
                records = sum(store.rewind(snapshot) for store in stores)
                timings["rewind"] = _lap(mark)
                mark = time.monotonic()
                await self._rebuild(data_dir)  # reopen takes the kept handles back
                timings["reopen"] = _lap(mark)
        except BaseException as exc:
            log.critical("devnet: %s could not revert by its undo log: %r; exiting", self.role, exc)
            self.target.fail(exc)
            raise ControlRefused(
                f"{REVERT}: {self.role} could not reopen its data dir reverted by the undo log ({exc}): it exits"
            ) from None
        timings["undone"] = records
        timings["filesReplaced"] = side.replaced + side.removed
        return timings

    async def _revert(self, source: Path) -> dict[str, float]:
        data_dir = self.target.data_dir
        timings: dict[str, float] = {}
        mark = time.monotonic()
        try:
            incoming = await asyncio.to_thread(stage, source, data_dir)
        except OSError as exc:
            raise ControlRefused(f"{REVERT}: cannot stage a copy of {source}: {exc}") from None
        timings["stage"] = _lap(mark)
        mark = time.monotonic()
        await self.target.hold()
        timings["hold"] = _lap(mark)
        mark = time.monotonic()
        await self.target.stop_loops()
        timings["stop"] = _lap(mark)
        mark = time.monotonic()
        self.target.close_stores()
        timings["close"] = _lap(mark)
        mark = time.monotonic()
        try:
            aside = swap_in(incoming, data_dir)
        except (SwapError, OSError) as exc:
            discard([incoming])
            await self._restart_as_before()
            raise ControlRefused(
                f"{REVERT}: the data dir was not exchanged ({exc}); {self.role} goes on as before"
            ) from None
        discard([aside])
        timings["swap"] = _lap(mark)
        mark = time.monotonic()
        try:
            await self._rebuild(data_dir)
        except BaseException as exc:
            log.critical("devnet: %s could not reopen its reverted data dir: %r; exiting", self.role, exc)
            self.target.fail(exc)
            raise ControlRefused(
                f"{REVERT}: {self.role} could not reopen the reverted data dir ({exc}): it exits"
            ) from None
        timings["reopen"] = _lap(mark)
        return timings

    async def _rebuild(self, data_dir: Path) -> None:
        """The role as on a restart from `data_dir` (its clock offset, stores and loops), still held."""
        self.clock.load(data_dir)
        await self.target.reopen()
        await self.target.hold()
        self.target.start_loops()

    async def _restart_as_before(self) -> None:
        try:
            await self.target.reopen()
            await self.target.hold()
            self.target.start_loops()
        except BaseException as exc:
            self.target.fail(exc)
            raise
        self._release()

    def _arm_lease(self) -> None:
        if self._lease is not None:
            self._lease.cancel()
        self._lease = asyncio.get_running_loop().call_later(HOLD_LEASE_S, self._lease_expired)

    def _lease_expired(self) -> None:
        self._lease = None
        if self.target.held and self._busy is None:
            log.warning("devnet: %s held for %.0f s without devnet_resume: resuming", self.role, HOLD_LEASE_S)
            self.target.release()

    def _release(self) -> None:
        if self._lease is not None:
            self._lease.cancel()
            self._lease = None
        if self.target.held:
            self.target.release()


def _lap(mark: float) -> float:
    return round(time.monotonic() - mark, 4)


def register_inproc(server: RpcServer, role: str, *, enabled: bool, target: Reloadable) -> InprocControl:
    """Serve the four methods on `server`; a process not in devnet mode answers them ControlDisabled (-32008)."""
    control = InprocControl(role, target)
    for name, handler in control.handlers().items():
        server.register(name, _gated(name, role, enabled, handler))
    return control


def inproc_handlers(role: str, target: Reloadable) -> Mapping[str, Handler]:
    """The four handlers, for node.rpc.control.register_control (which gates them and lists them in devnet_info)."""
    return InprocControl(role, target).handlers()


def _gated(name: str, role: str, enabled: bool, handler: Handler) -> Handler:
    async def call(params: list[Any]) -> dict[str, Any]:
        if not enabled:
            raise ControlDisabled(
                f"{name} is disabled: this {role} was not started as part of a devnet ([node] devnet = true)"
            )
        return await handler(params)

    return call


__all__ = [
    "HOLD_LEASE_S",
    "METHODS",
    "QUIESCE",
    "RESUME",
    "REVERT",
    "SNAPSHOT",
    "InprocControl",
    "inproc_handlers",
    "parse_options",
    "register_inproc",
]
