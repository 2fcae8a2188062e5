"""The L1 devnet process: the chain, a block every block_time_ms, and JSON-RPC.

    python -m l1.chain --config configs/l1.toml      (or `rollup l1 --config ...`)

Start-up order: open the chain (creating genesis block 0 at the current
time on an empty data_dir), start the block loop, then serve RPC last; shut
down in reverse on SIGTERM/SIGINT. Blocks come on a fixed cadence, empty or
not, with chain-clock millisecond timestamps kept strictly increasing (the
wall clock plus the devnet time offset, node.clock: devnet_setTimeOffset). In
devnet mode (`[node] devnet = true`) devnet_mine and devnet_setBalance
(l1.chain.control) make blocks too; every block, timer or not, is made
through one BlockMaker (l1.chain.mining), so they never interleave.

Crash behaviour: every block is one atomic RocksDB write, so after `kill -9`
a restart resumes at the last committed block with everything in it.
Transactions acknowledged by l1_sendRawTransaction but not yet in a block
live only in memory and are lost, as in anvil's mempool; clients resubmit
(l1.contracts.client.L1Client.send_tx reads the nonce again each time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from types import TracebackType

from l1.chain.config import L1Config
from l1.chain.control import L1Control
from l1.chain.errors import ChainConfigMismatch, L1ChainError
from l1.chain.mining import BlockMaker
from l1.chain.producer import L1Chain, ProducedBlock, open_l1_chain
from l1.chain.revert import L1Reload
from l1.chain.rpc import L1Rpc, block_to_json
from l1.contracts.events import (
    BatchPosted,
    DepositLocked,
    GameMoved,
    GameResolved,
    OutputDisputed,
    OutputFinalized,
    OutputProposed,
    TxForced,
    WithdrawalFinalized,
    WithdrawalProven,
)
from l1.contracts.rpc import RollupRpc
from l1.contracts.runtime import ROLLUP
from l1.contracts.startup import prepare_rollup
from node.clock import PROCESS_CLOCK, ChainClock
from node.crypto import Address, to_checksum_address
from node.devnet.inproc.control import inproc_handlers
from node.rpc.control import register_control
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ConfigError, sleep_or_stop

log = logging.getLogger("l1")

NEW_HEADS = "newHeads"
HEARTBEAT_MS = 30_000  # an INFO line about the head at least this often, even with empty blocks


class L1Process:
    """An async context manager running one L1 devnet until exited."""

    def __init__(self, config: L1Config, clock: ChainClock = PROCESS_CLOCK) -> None:
        self.config = config
        self.clock = clock  # chain time: the wall clock plus the devnet offset (devnet_setTimeOffset)
        self.tasks = BackgroundTasks()
        self.stop = asyncio.Event()
        self.server = RpcServer("l1", health=self.health)
        self.chain: L1Chain | None = None
        self.port: int | None = None
        self.maker = BlockMaker(self.produce_one)  # every block, timer or devnet_*, is made through it
        self._init_metrics()

    def _init_metrics(self) -> None:
        m = self.server.metrics
        self.m_txs = m.counter("l1_txs_total", "L1 transactions included in blocks, by kind and status")
        self.m_batch_bytes = m.counter("l1_batch_bytes_total", "Bytes of L2 batch data posted to the L1 inbox")
        self.m_dropped = m.counter("l1_dropped_txs_total", "Mempool transactions dropped as invalid at block time")
        m.gauge_fn("l1_head", "Number of the newest L1 block", lambda: self.chain.head.number if self.chain else 0)
        m.gauge_fn(
            "l1_mempool_size",
            "Transactions waiting in the L1 mempool",
            lambda: len(self.chain.mempool) if self.chain else 0,
        )

    async def __aenter__(self) -> L1Process:
        self.chain = self.open_chain()
        try:
            L1Rpc(self.chain, self.config).register(self.server)
            RollupRpc(self.chain, self.config).register(self.server)
            control = L1Control(self.maker, self.chain.get_balance)
            register_control(
                self.server,
                "l1",
                enabled=self.config.devnet,
                handlers={**control.handlers(), **inproc_handlers("l1", L1Reload(self))},
                data_dir=self.config.data_dir,
                clock=self.clock,
            )
            self.server.add_topic(NEW_HEADS)
            self.tasks.spawn("l1-blocks", self.run_block_loop())
            self.port = await self.server.start(self.config.rpc_host, self.config.rpc_port)
        except BaseException:
            await self.close()
            raise
        log.info(
            "L1 devnet chain %d serving on %s: head %d, block time %d ms, batcher %s",
            self.config.params.chain_id,
            self.server.url,
            self.chain.head.number,
            self.config.block_time_ms,
            to_checksum_address(self.config.params.batcher),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def open_chain(self) -> L1Chain:
        try:
            chain = open_l1_chain(self.config, self.clock.now_ms(), ROLLUP)
        except ChainConfigMismatch as exc:
            raise ConfigError(str(exc)) from None
        try:
            chain.params = prepare_rollup(chain, self.config)
        except BaseException:
            chain.kv.close()
            raise
        log.info("opened L1 chain in %s at block %d", self.config.data_dir, chain.head.number)
        return chain

    async def close(self) -> None:
        self.stop.set()
        await self.server.stop()
        await self.tasks.cancel_all()
        if self.chain is not None:
            self.chain.kv.close()
            log.info("L1 chain closed at block %d", self.chain.head.number)
            self.chain = None

    def health(self) -> dict[str, object]:
        chain = self.chain
        if chain is None:
            return {"status": "starting"}
        return {"status": "ok", "head": chain.head.number, "mempool": len(chain.mempool)}

    # -- the block loop --

    async def run_block_loop(self) -> None:
        interval = self.config.block_time_ms / 1000
        next_at = time.monotonic() + interval
        while not await sleep_or_stop(max(0.0, next_at - time.monotonic()), self.stop):
            await self.maker.next_block()
            next_at += interval
            if next_at < time.monotonic():  # fell behind (a slow block or a paused process): skip ahead
                next_at = time.monotonic() + interval

    def produce_one(self, balances: Mapping[Address, int] | None = None) -> ProducedBlock:
        """Produce, record and publish one block; callers other than tests go through `self.maker`."""
        chain = self.chain
        if chain is None:
            raise L1ChainError("the chain is closed")
        timestamp = max(self.clock.now_ms(), chain.head.timestamp_ms + 1)
        produced = chain.produce_block(timestamp, balances)
        self.record(produced)
        self.server.publish(NEW_HEADS, block_to_json(produced.block, with_events=False))
        return produced

    def record(self, produced: ProducedBlock) -> None:
        """Update the metrics and log the block: INFO when it carries something, else a periodic heartbeat."""
        for receipt in produced.receipts:
            self.m_txs.inc(kind=receipt.kind, status=receipt.status)
        self.m_batch_bytes.inc(batch_bytes(produced))
        self.m_dropped.inc(len(produced.dropped))
        block = produced.block
        short_hash = block.hash().hex()[:12]
        mempool = len(self.chain.mempool) if self.chain is not None else 0
        if block.transactions or block.events:
            log.info("block %d 0x%s: %s; mempool %d", block.number, short_hash, _summarize(produced), mempool)
        elif block.number % max(1, HEARTBEAT_MS // self.config.block_time_ms) == 0:
            log.info("block %d 0x%s: empty; mempool %d", block.number, short_hash, mempool)
        else:
            log.debug("block %d 0x%s: empty", block.number, short_hash)


def batch_bytes(produced: ProducedBlock) -> int:
    return sum(len(e.data) for e in produced.block.events if isinstance(e, BatchPosted))


def _summarize(produced: ProducedBlock) -> str:
    events = produced.block.events
    parts = [f"{len(produced.receipts)} txs"]
    failed = sum(1 for r in produced.receipts if r.status == 0)
    if failed:
        parts.append(f"{failed} failed")
    for cls, label in (
        (BatchPosted, "batches"),
        (DepositLocked, "deposits"),
        (TxForced, "forced txs"),
        (OutputProposed, "proposals"),
        (OutputFinalized, "finalized outputs"),
        (OutputDisputed, "disputes"),
        (GameMoved, "game moves"),
        (GameResolved, "resolved games"),
        (WithdrawalProven, "withdrawals proven"),
        (WithdrawalFinalized, "withdrawals paid"),
    ):
        n = sum(1 for e in events if isinstance(e, cls))
        if n:
            parts.append(f"{n} {label}")
    if batch_bytes(produced):
        parts.append(f"{batch_bytes(produced)} batch bytes")
    if produced.dropped:
        parts.append(f"{len(produced.dropped)} dropped")
    return ", ".join(parts)
