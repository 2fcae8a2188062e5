"""The faulty proposer's copy of the L2 chain: the sequencer's blocks re-executed into a local store.

Only the faulty-proposer test mode needs it (to compute a wrong history that
is consistent step by step). Blocks come from the sequencer's
`rollup_getBlockRange` (whole blocks, system transactions included), are
imported with `Chain.import_block` (which re-executes them and checks every
state root) and stay on disk, so a restarted settler resumes where it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

from node.block import decode_block
from node.chain import Chain
from node.crypto import parse_hex
from node.rollup_config import RollupConfig
from node.rpc.client import RpcClient
from node.stf.execute import recover_in_block
from node.store.chain import ChainStore

log = logging.getLogger("settler.replica")

FETCH_BLOCKS = 128
HISTORY_WINDOW = 100_000


class BlockReplica:
    def __init__(self, data_dir: Path, rollup: RollupConfig) -> None:
        self.path = data_dir / "replica"
        self.rollup = rollup
        self.store: ChainStore | None = None
        self.chain: Chain | None = None

    def open(self, l1_genesis_timestamp_ms: int, l1_genesis_hash: bytes) -> None:
        self.store = ChainStore(self.path, history_window=HISTORY_WINDOW)
        self.chain = Chain(self.store, self.rollup.chain_config())
        self.chain.init_genesis(
            self.rollup.genesis_alloc, l1_genesis_timestamp_ms, (0, l1_genesis_hash), self.rollup.venue_genesis
        )

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def require_store(self) -> ChainStore:
        if self.store is None:
            raise RuntimeError("the replica is not open")
        return self.store

    def head(self) -> int:
        if self.chain is None:
            return -1
        return self.chain.head().number

    async def catch_up(self, sequencer: RpcClient, upto: int) -> int:
        """Import the sequencer's blocks up to `upto`; return the replica's head."""
        if self.chain is None:
            raise RuntimeError("the replica is not open")
        while self.head() < upto:
            first = self.head() + 1
            raws = await sequencer.call("rollup_getBlockRange", first, min(FETCH_BLOCKS, upto - first + 1))
            if not raws:
                break
            for raw in raws:
                block = decode_block(parse_hex(raw, None, "block"))
                self.chain.import_block(block, [recover_in_block(tx) for tx in block.transactions])
        return self.head()
