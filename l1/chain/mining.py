"""The one path that produces L1 blocks: the block timer, `devnet_mine` and `devnet_setBalance` all go through it.

    maker = BlockMaker(produce_one)           # produce_one(balances) -> ProducedBlock, the process's
    await maker.next_block()                  # the timer's block
    first, last = await maker.mine(100)       # 100 blocks at once (devnet)
    await maker.next_block({address: wei})    # a block that first sets a balance (devnet)

An asyncio.Lock serialises them: while `mine(n)` runs, the timer's block
waits, so block production never interleaves. `mine` yields to the event
loop between blocks (reads keep being served and see each block as it is
committed) but keeps the lock until its last block. Each block is produced
and committed exactly as a timer block is (mempool transactions go into the
first one); timestamps stay strictly increasing (1 ms apart when the wall
clock has not moved).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from l1.chain.producer import ProducedBlock
from node.crypto import Address

MAX_MINE = 10_000
ProduceOne = Callable[[Mapping[Address, int] | None], ProducedBlock]


class BlockMaker:
    """Serialised block production over the process's `produce_one`."""

    def __init__(self, produce_one: ProduceOne) -> None:
        self._produce_one = produce_one
        self._lock = asyncio.Lock()

    async def next_block(self, balances: Mapping[Address, int] | None = None) -> ProducedBlock:
        """One block now (after any mining in progress)."""
        async with self._lock:
            return self._produce_one(balances)

    async def hold(self) -> None:
        """Wait for the block being made, then let none be made until release() (a devnet snapshot or revert)."""
        await self._lock.acquire()

    def release(self) -> None:
        self._lock.release()

    async def mine(self, count: int) -> tuple[int, int]:
        """`count` blocks back to back; returns the first and last block numbers."""
        if not 1 <= count <= MAX_MINE:
            raise ValueError(f"count must be in [1, {MAX_MINE}], got {count}")
        async with self._lock:
            first = last = self._produce_one(None).block.number
            for _ in range(count - 1):
                await asyncio.sleep(0)  # serve reads between blocks; the timer still waits for the lock
                last = self._produce_one(None).block.number
        return first, last


__all__ = ["MAX_MINE", "BlockMaker", "ProduceOne"]
