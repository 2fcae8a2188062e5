"""An L2 chain derived from L1 data alone: the store, genesis and derivation loop of a node.

It composes ChainStore, Chain and a Deriver fed by an `L1Source` (the L1
client, l1.contracts.client.L1Client, is one). The executor
uses it (and adds gossip for its unsafe head); the challenger uses it as is,
so every block in its store is what L1 data decides, whatever the sequencer
or the proposer say.

The last processed L1 block is recorded after each one (re-processing after
a crash is harmless: derived blocks are skipped). The store keeps
`history_window` blocks of state so any block inside the challenge window
can be traced step by step.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Protocol

from node.chain import Chain
from node.derivation import DerivationResult, Deriver, L1BlockData
from node.rollup_config import RollupConfig
from node.rpc.client import RpcTransportError
from node.store.chain import ChainStore, Head

log = logging.getLogger("derivation")

CURSOR_KEY = b"Mderivation_l1_cursor"  # the last L1 block processed
L1_FETCH = 32


class L1Source(Protocol):
    """What derivation reads from the L1: its head and the data of its blocks."""

    url: str

    async def block_number(self) -> int: ...

    async def get_block_data(self, first: int, count: int) -> list[L1BlockData]:
        """L1 blocks first..first+count-1 that exist, in order."""
        ...


class ChainFollower:
    def __init__(self, data_dir: Path, rollup: RollupConfig, l1: L1Source, history_window: int) -> None:
        self.data_dir = data_dir
        self.rollup = rollup
        self.l1 = l1
        self.history_window = history_window
        self.store: ChainStore | None = None
        self.chain: Chain = None  # type: ignore[assignment]  # set in open()
        self.deriver: Deriver = None  # type: ignore[assignment]
        self.l1_head = 0

    async def open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = ChainStore(self.data_dir / "chain", history_window=self.history_window)
        self.chain = Chain(self.store, self.rollup.chain_config())
        genesis = await self._wait_for_l1_block(0)
        self.chain.init_genesis(
            self.rollup.genesis_alloc, genesis.timestamp_ms, (0, genesis.hash), self.rollup.venue_genesis
        )
        self.deriver = Deriver(self.chain, self.rollup.rules)
        first, cursor = self.deriver.needed_origins(), self.cursor()
        for data in await self.l1.get_block_data(first, cursor - first + 1):
            self.deriver.add_l1_block(data)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    async def _wait_for_l1_block(self, number: int) -> L1BlockData:
        delay = 0.1
        while True:
            try:
                blocks = await self.l1.get_block_data(number, 1)
                if blocks:
                    return blocks[0]
            except RpcTransportError as exc:
                log.info("waiting for the L1 at %s: %s", self.l1.url, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    # -- reads --

    def require_store(self) -> ChainStore:
        if self.store is None:
            raise RuntimeError("the chain follower is not open")
        return self.store

    def cursor(self) -> int:
        raw = self.store.kv.get(CURSOR_KEY) if self.store is not None else None
        return int.from_bytes(raw, "big") if raw else 0

    def safe_head(self) -> Head:
        return self.deriver.safe.safe_head()

    # -- derivation --

    async def sync_step(self) -> list[DerivationResult]:
        """Derive from the next L1 blocks (at most L1_FETCH); an empty list when caught up."""
        self.l1_head = await self.l1.block_number()
        cursor = self.cursor()
        if self.l1_head <= cursor:
            return []
        results = []
        for data in await self.l1.get_block_data(cursor + 1, min(L1_FETCH, self.l1_head - cursor)):
            result = self.deriver.process_l1_block(data)
            self.store.kv.write({CURSOR_KEY: data.number.to_bytes(8, "big")})  # type: ignore[union-attr]
            self._report(data.number, result)
            results.append(result)
        return results

    def _report(self, l1_number: int, result: DerivationResult) -> None:
        for reason in result.dropped:
            log.warning("derivation dropped data: %s", reason)
        if result.derived:
            log.info(
                "derived L2 blocks %d..%d from L1 block %d%s",
                result.derived[0].head.number,
                result.derived[-1].head.number,
                l1_number,
                f" ({result.promoted} already there as unsafe blocks)" if result.promoted else "",
            )
