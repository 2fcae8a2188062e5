"""Follows the L1 devnet for the sequencer: origins to build on, derivation of its safe head, finality.

Every poll it reads the L1 head and fetches the L1 blocks it has not seen,
in order, starting where the consumer (sequencer.healing.ChainHealer) needs:
- each block (without its batch payloads) is kept while the sequencer may
  still build on it, i.e. from the safe head's origin on (a heal can move
  the head back to any block above the safe head, never below);
- each block, batches included, goes to the consumer, which derives the
  safe chain from it and heals when L1 replaced blocks of ours.
Output proposals are re-read every few polls for the finalized head.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Protocol

from l1.contracts.client import L1Client, L1ResponseError
from node.derivation import L1BlockData
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError
from node.service import sleep_or_stop
from sequencer.safety import FinalityTracker

log = logging.getLogger(__name__)

FETCH_CHUNK = 64
OUTPUTS_EVERY_POLLS = 5
MAX_OUTPUTS_PER_CALL = 256


class L1Consumer(Protocol):
    def needed_from(self) -> int:
        """The lowest L1 block the sequencer may still build on."""
        ...

    async def take_l1_block(self, data: L1BlockData) -> object:
        """One L1 block, batches included (L1 blocks in order)."""
        ...


class L1Follower:
    def __init__(
        self, view: L1Client, consumer: L1Consumer, finality: FinalityTracker, start: int = 0, poll_s: float = 0.2
    ) -> None:
        self.view = view
        self.consumer = consumer
        self.finality = finality
        self.poll_s = poll_s
        self.head = -1  # newest L1 block seen
        self.changed = asyncio.Event()  # set whenever a new L1 block arrives
        self._blocks: dict[int, L1BlockData] = {}
        self._next = start  # next L1 block to fetch
        self._polls = 0
        self._down_since: float | None = None

    # -- what the block loop reads --

    def get(self, number: int) -> L1BlockData | None:
        return self._blocks.get(number)

    # -- polling --

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.poll_once_logged()
            if await sleep_or_stop(self.poll_s, stop):
                return

    async def poll_once_logged(self) -> None:
        try:
            await self.poll_once()
            self._note_up()
        except (RpcTransportError, RpcError, L1ResponseError) as exc:
            self._note_down(exc)

    async def poll_once(self) -> None:
        head = await self.view.block_number()
        while self._next <= head:
            count = min(FETCH_CHUNK, head - self._next + 1)
            fetched = await self.view.get_block_data(self._next, count)
            if not fetched:
                break
            for data in fetched:
                await self._ingest(data)
        self._forget_before(self.consumer.needed_from())
        self._polls += 1
        if self._polls % OUTPUTS_EVERY_POLLS == 0:
            await self._poll_outputs()

    async def _ingest(self, data: L1BlockData) -> None:
        if data.number != self._next:
            raise L1ResponseError(f"L1 returned block {data.number} where {self._next} was expected")
        self._blocks[data.number] = dataclasses.replace(data, batches=())
        self._next = data.number + 1
        self.head = data.number
        self.changed.set()
        await self.consumer.take_l1_block(data)

    def _forget_before(self, number: int) -> None:
        for old in [n for n in self._blocks if n < number]:
            del self._blocks[old]

    async def _poll_outputs(self) -> None:
        self.finality.observe_outputs(
            await self.view.get_outputs(self.finality.next_output_index, MAX_OUTPUTS_PER_CALL)
        )

    def _note_down(self, exc: Exception) -> None:
        loop_time = asyncio.get_running_loop().time()
        if self._down_since is None:
            self._down_since = loop_time
            log.warning("L1 at %s is unreachable or misbehaving: %s (retrying)", self.view.url, exc)

    def _note_up(self) -> None:
        if self._down_since is not None:
            log.info("L1 at %s is reachable again (L1 head %d)", self.view.url, self.head)
            self._down_since = None
