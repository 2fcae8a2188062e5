"""The executor's in-process snapshot and revert (node.devnet.inproc.reloadable over node.executor.process.Executor).

Hold: gossiped blocks are dropped (node.unsafe.UnsafeFollower swapped for one that keeps nothing),
so a block of the abandoned chain still in flight during a devnet revert is never applied; blocks
dropped so are in libp2p's seen cache, so they are not delivered again either. The derivation loop
is stopped too (between two L1 blocks: each is one write with its cursor), so nothing writes the
store while it is copied. Loops: derivation, finality, range syncs and attestation publishing; a
reopened executor starts derivation and finality on its release only (the L1 it reads the outputs
of may not be reverted yet while it reopens).
Reopen does what start-up does before the network: the chain follower (store, genesis, derivation
state fed from L1 up to the copy's cursor), a new unsafe follower, the finalized head found again
from L1, and the attestation pool replayed from the copy's journal. The libp2p host, its
subscriptions and the RPC server are kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from node.attestation import Attestation
from node.attestation_pool import AttestationPool
from node.devnet.inproc.known import KnownMessages, pool_messages
from node.follower import ChainFollower
from node.gossip import SignedBlock
from node.store.kv import KVStore
from node.unsafe import Accepted, UnsafeFollower

if TYPE_CHECKING:
    from node.executor.process import Executor

log = logging.getLogger("executor")

DERIVATION = "derivation"
FINALITY = "finality"
LOOPS = (DERIVATION, FINALITY)
LOOP_PREFIXES = ("range-sync-", "attest-")


class DroppingFollower(UnsafeFollower):
    """The unsafe follower while the executor is held: every gossiped block is dropped."""

    def accept(self, signed: SignedBlock) -> Accepted:
        return Accepted()


class ExecutorReload:
    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self._real: UnsafeFollower | None = None  # the follower put aside while held
        self._loops = True  # the loops run (false between stop_loops and start_loops)
        self._known: KnownMessages[Attestation] = KnownMessages()  # the pool's messages at each hold

    def _remember_attestations(self) -> None:
        net = self.executor.attestations
        if net is not None:
            self._known.remember(pool_messages(net.pool))

    @property
    def data_dir(self) -> Path:
        return Path(self.executor.config.node.data_dir)

    @property
    def held(self) -> bool:
        return self._real is not None

    async def hold(self) -> None:
        if self._real is None:
            self._remember_attestations()
            real = self.executor.unsafe
            self.executor.unsafe = DroppingFollower(real.chain, real.safe)
            self._real = real
            await self.executor.tasks.cancel_named([DERIVATION])

    def release(self) -> None:
        real, self._real = self._real, None
        if real is not None:
            self.executor.unsafe = real
            if self._loops:
                self._spawn_loops()

    def stores(self) -> Sequence[KVStore]:
        store = self.executor.store
        return [store.kv] if store is not None else []

    async def stop_loops(self) -> None:
        await self.executor.tasks.cancel_named(LOOPS, LOOP_PREFIXES)
        self.executor._range_syncing = False
        self._loops = False

    def close_stores(self) -> None:
        self.executor.follower.close()
        self.executor.store = None
        if self.executor.attestations is not None and self.executor.attestations.journal is not None:
            self.executor.attestations.journal.close()

    async def reopen(self) -> None:
        ex = self.executor
        cfg = ex.config
        follower = ChainFollower(cfg.node.data_dir, cfg.rollup, ex.l1, cfg.history_window)
        await follower.open()
        ex.follower = follower
        ex.store, ex.chain, ex.deriver = follower.require_store(), follower.chain, follower.deriver
        ex.unsafe = UnsafeFollower(ex.chain, ex.deriver.safe)
        self._real = None  # the follower put aside belonged to the old store
        ex._finalized = None
        ex._outputs_seen = 0
        ex._l1_head = 0
        if ex.attestations is not None:
            ex.attestations.pool = AttestationPool()
            # the copy's journal: the pool as it was at the snapshot (what it held then is not validated again)
            ex.attestations.replay_journal(self._known.snapshot())
        if ex.network is not None:
            await ex.network.node.forget_gossip_history()  # no block of the abandoned chain is served again
        log.info("devnet: executor reopened in place, safe head %d", ex.deriver.safe.safe_head().number)

    def start_loops(self) -> None:
        self._loops = True
        if self._real is None:  # held: they start on release
            self._spawn_loops()

    def _spawn_loops(self) -> None:
        ex = self.executor
        ex.tasks.spawn(DERIVATION, ex._derivation_loop())
        if not any(task.get_name() == FINALITY and not task.done() for task in ex.tasks.running()):
            ex.tasks.spawn(FINALITY, ex._finality_loop())

    def fail(self, exc: BaseException) -> None:
        self.executor.tasks.fail(exc)


__all__ = ["DroppingFollower", "ExecutorReload"]
