"""The L1 process's in-process snapshot and revert (node.devnet.inproc.reloadable over l1.chain.process.L1Process).

Hold: the block maker's lock (l1.chain.mining), so no block (timer, devnet_mine, devnet_setBalance)
is made. Loops: the block timer. The store is one KVStore over the data dir, closed and reopened
in place (every reader, the RPC's and the contracts', keeps its reference). Rebuilt from the store
as a restart does (l1.chain.producer.open_l1_chain, l1.contracts.startup.prepare_rollup): the head,
the rollup params; the mempool starts empty, as after a restart (transactions not in a block are
lost, as documented in l1.chain.process).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from l1.chain.mempool import open_l1_mempool
from l1.chain.store import read_head
from l1.contracts.startup import prepare_rollup
from node.store.kv import KVStore

if TYPE_CHECKING:
    from l1.chain.process import L1Process

log = logging.getLogger("l1")

BLOCK_LOOP = "l1-blocks"


class L1Reload:
    def __init__(self, process: L1Process) -> None:
        self.process = process
        self._held = False

    @property
    def data_dir(self) -> Path:
        return Path(self.process.config.data_dir)

    @property
    def held(self) -> bool:
        return self._held

    async def hold(self) -> None:
        if not self._held:
            await self.process.maker.hold()
            self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self.process.maker.release()

    def stores(self) -> Sequence[KVStore]:
        chain = self.process.chain
        return [chain.kv] if chain is not None else []

    async def stop_loops(self) -> None:
        await self.process.tasks.cancel_named([BLOCK_LOOP])

    def close_stores(self) -> None:
        if self.process.chain is not None:
            self.process.chain.kv.close()

    async def reopen(self) -> None:
        chain = self.process.chain
        if chain is None:
            raise RuntimeError("the L1 chain is closed")
        chain.kv.reopen()
        chain.mempool = open_l1_mempool(self.process.config.mempool)
        chain._head = read_head(chain.kv)
        chain.params = prepare_rollup(chain, self.process.config)
        log.info("devnet: L1 reopened in place at block %d", chain.head.number)

    def start_loops(self) -> None:
        self.process.tasks.spawn(BLOCK_LOOP, self.process.run_block_loop())

    def fail(self, exc: BaseException) -> None:
        self.process.tasks.fail(exc)


__all__ = ["L1Reload"]
