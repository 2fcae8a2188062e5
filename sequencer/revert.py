"""The sequencer's in-process snapshot and revert (node.devnet.inproc.reloadable over sequencer.process.SequencerNode).

Hold: the chain lock block production and healing share, so no block is sealed or healed (a
transaction may still be admitted: it is journaled, and the journal is crash-safe). Loops: the L1
follower, the block loop, the requeue and mempool-upkeep loops and the gossip publisher; the
mempool journal is closed with them. Reopen does what start-up does after the RPC server and the
network exist: the chain store, the journal replayed into a new mempool, every part rebuilt
(SequencerNode._build_parts: mempool, txpool, healer, finality, L1 follower, producer), an
interrupted heal finished (the first L1 poll is the follower loop's, once released); blocks
sealed before the revert and not yet gossiped are dropped with the old gossip queue. The RPC
handlers are bound to the first SequencerMethods, so the rebuilt one's state is moved into it;
the sender-recovery pool and the libp2p host are kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from node.chain import Chain
from node.store.chain import ChainStore
from node.store.kv import KVStore

if TYPE_CHECKING:
    from sequencer.process import SequencerNode

log = logging.getLogger("sequencer")

LOOPS = ("l1-follower", "block-loop", "requeue", "mempool-upkeep", "gossip")


class SequencerReload:
    def __init__(self, node: SequencerNode) -> None:
        self.node = node
        self._held: asyncio.Lock | None = None  # the chain lock we hold

    @property
    def data_dir(self) -> Path:
        return Path(self.node.config.node.data_dir)

    @property
    def held(self) -> bool:
        return self._held is not None

    async def hold(self) -> None:
        if self._held is None:
            lock = self.node.producer.lock
            await lock.acquire()
            self._held = lock

    def release(self) -> None:
        lock, self._held = self._held, None
        if lock is not None:
            lock.release()

    def stores(self) -> Sequence[KVStore]:
        store = self.node.store
        return [store.kv] if store is not None else []

    async def stop_loops(self) -> None:
        await self.node.tasks.cancel_named(LOOPS)
        await self.node.producer.drain()
        await self.node.txpool.close()

    def close_stores(self) -> None:
        if self.node.store is not None:
            self.node.store.close()
            self.node.store = None

    async def reopen(self) -> None:
        node = self.node
        cfg = node.config
        if node.view is None:
            raise RuntimeError("the sequencer has no L1 client")
        node.store = ChainStore(Path(cfg.node.data_dir) / "chain")
        node.chain = Chain(node.store, cfg.rollup.chain_config())
        journal, records = node._open_journal()
        methods = node.methods
        node._build_parts(node.view, journal, node.recoverer)
        vars(methods).update(vars(node.methods))  # the registered handlers are bound to `methods`
        node.methods = methods
        self._held = None  # the lock held before belonged to the old parts
        if node.network is not None:
            node.gossip_queue = asyncio.Queue()  # blocks of the abandoned chain are never published
            await node.network.node.forget_gossip_history()  # nor served again from the gossip cache
        await node._restore_mempool(node.txpool, records)
        await node.healer.resume()
        # no L1 poll here (start-up makes one): the L1 may not be reverted yet (node.devnet.snapshot_ops reverts
        # every process at once); the L1 follower loop polls as soon as the hold is released
        node.m_unsafe.set(node.chain.head().number)
        log.info("devnet: sequencer reopened in place at block %d", node.chain.head().number)

    def start_loops(self) -> None:
        node = self.node
        node.tasks.spawn("l1-follower", node.follower.run(node.stop))
        node.tasks.spawn("block-loop", node.producer.run(node.stop))
        node.tasks.spawn("requeue", node.healer.run(node.stop))
        node.tasks.spawn("mempool-upkeep", node.txpool.run(node.stop))
        if node.network is not None:
            node.tasks.spawn("gossip", node._gossip_loop(node.network))

    def fail(self, exc: BaseException) -> None:
        self.node.tasks.fail(exc)


__all__ = ["SequencerReload"]
