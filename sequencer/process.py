"""The sequencer process: `python -m sequencer --config FILE`.

Start-up, in dependency order (stopped in reverse):
  1. the chain store under [node] data_dir, with genesis anchored to L1
     block 0 (fetched from the L1, retried until the L1 answers);
  2. derivation over its own store (sequencer.healing: the safe head; a
     heal onto the L1-derived chain when L1 replaced blocks of ours, an
     interrupted heal finished first), the L1 follower feeding it (origins,
     finalized head) and the block loop;
  3. the JSON-RPC server, last: read methods (node.l2rpc), the sequencer's
     own (sequencer.rpc), /metrics and the "newHeads" WebSocket topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from types import TracebackType
from typing import Any

from l1.contracts.client import L1Client, L1ResponseError
from node.block import Block
from node.blocknet import BlockNetwork
from node.chain import Chain, GenesisMismatch
from node.crypto import to_checksum_address
from node.derivation import L1BlockData
from node.devnet.inproc.control import inproc_handlers
from node.gossip import MAX_RANGE_RESPONSE_BYTES, sign_block
from node.keys.resolve import resolve_key
from node.l2rpc import Heads, register_read_methods
from node.rpc.client import RpcTransportError
from node.rpc.errors import RpcError
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ConfigError
from node.store.chain import ChainStore, Head
from node.venue import priority_of
from sequencer.config import SequencerConfig
from sequencer.dropped import TransactionDropped
from sequencer.healing import ChainHealer, HealReport, RequeueRound
from sequencer.intake import Recoverer
from sequencer.journal import Journal, JournalRecord, open_journal
from sequencer.l1follower import L1Follower
from sequencer.latency import SoftLatency
from sequencer.mempool import Mempool
from sequencer.producer import BlockProducer, BlockReport
from sequencer.revert import SequencerReload
from sequencer.rpc import ReceiptWaiters, SequencerMethods
from sequencer.safety import FinalityTracker
from sequencer.txpool import TxPool

log = logging.getLogger("sequencer")

L1_RETRY_S = 0.5
MAX_BODY_BYTES = 2 * 1024 * 1024
SEAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SOFT_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


MAX_HEAL_HEADS = 256  # newHeads messages for the blocks a heal replaced, at most


class ChainBlocks:
    """The chain as the FinalityTracker reads it."""

    def __init__(self, chain: Chain, healer: ChainHealer) -> None:
        self.chain = chain
        self.healer = healer

    def head_number(self) -> int:
        return self.chain.head().number

    def safe_number(self) -> int:
        return self.healer.safe_head().number

    def block(self, number: int) -> Block | None:
        return self.chain.store.get_block(number)


class SequencerNode:
    def __init__(self, config: SequencerConfig) -> None:
        self.config = config
        self.stop = asyncio.Event()
        self.tasks = BackgroundTasks()
        self.server = RpcServer("sequencer", max_body_bytes=MAX_BODY_BYTES)
        self.chain: Chain
        self.store: ChainStore | None = None
        self.view: L1Client | None = None
        self.recoverer: Recoverer | None = None
        self.network: BlockNetwork | None = None
        self.txpool: TxPool

    # -- what node.l2rpc reads --

    def heads(self) -> Heads:
        unsafe = self.chain.head()
        safe = self.healer.safe_head()
        finalized = min(self.finality.finalized, safe.number)  # as derivation: a finalized block is a safe one
        return Heads(unsafe, safe, self._head_at(finalized))

    def p2p_status(self) -> dict[str, Any]:
        if self.network is None:
            return {"enabled": False}
        return {"enabled": True, "peerId": self.network.peer_id, "peers": self.network.peers()}

    def l1_head(self) -> int:
        return self.follower.head

    def explain_missing_transaction(self, tx_hash: bytes) -> None:
        """rollup_getTransactionReceipt without a receipt: raise for a transaction a heal dropped."""
        dropped = self.healer.dropped_transaction(tx_hash)
        if dropped is not None:
            raise TransactionDropped(dropped)

    def _head_at(self, number: int) -> Head:
        block = self.chain.store.get_block(number)
        if block is None:
            raise RpcError(-32603, f"block {number} is missing from the store")
        return Head(number, block.hash(), block.header.state_root)

    # -- lifecycle --

    async def __aenter__(self) -> SequencerNode:
        try:
            await self._start()
        except BaseException:
            await self._shutdown()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._shutdown()

    async def _start(self) -> None:
        cfg = self.config
        data_dir = cfg.node.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.store = ChainStore(data_dir / "chain")
        self.chain = Chain(self.store, cfg.rollup.chain_config())
        self.view = view = L1Client(cfg.sequencer.l1_rpc)
        await self._init_genesis(await self._fetch_l1_genesis(view))
        journal, records = self._open_journal()
        self._build_parts(view, journal)
        self._init_metrics()
        await self._restore_mempool(self.txpool, records)
        await self.healer.resume()
        await self._start_network()
        await self.follower.poll_once_logged()
        self.tasks.spawn("l1-follower", self.follower.run(self.stop))
        self.tasks.spawn("block-loop", self.producer.run(self.stop))
        self.tasks.spawn("requeue", self.healer.run(self.stop))
        self.tasks.spawn("mempool-upkeep", self.txpool.run(self.stop))
        self._register_rpc()
        await self.server.start(cfg.node.rpc_host, cfg.node.rpc_port)
        head = self.chain.head()
        log.info(
            "sequencer for chain %d up: head %d (0x%s), block time %d ms, RPC %s%s",
            cfg.rollup.chain_id,
            head.number,
            head.hash.hex()[:16],
            cfg.sequencer.block_time_ms,
            self.server.url,
            f", censoring {len(cfg.sequencer.censor)} sender(s)" if cfg.sequencer.censor else "",
        )

    async def _fetch_l1_genesis(self, view: L1Client) -> L1BlockData:
        announced = False
        while True:
            try:
                blocks = await view.get_block_data(0, 1)
                if blocks:
                    return blocks[0]
            except (RpcTransportError, RpcError, L1ResponseError) as exc:
                if not announced:
                    log.warning("waiting for the L1 at %s: %s", view.url, exc)
                    announced = True
            await asyncio.sleep(L1_RETRY_S)

    async def _init_genesis(self, l1_genesis: L1BlockData) -> None:
        alloc = self.config.rollup.genesis_alloc
        try:
            head = self.chain.init_genesis(
                alloc, l1_genesis.timestamp_ms, (0, l1_genesis.hash), self.config.rollup.venue_genesis
            )
        except GenesisMismatch:
            raise ConfigError(
                f"{self.config.node.data_dir} holds an L2 chain with another genesis than this [rollup] section "
                f"on L1 block 0 0x{l1_genesis.hash.hex()} (was the L1 reset?); use a fresh data_dir"
            ) from None
        log.info(
            "chain store at %s: head %d (genesis on L1 block 0x%s)",
            self.config.node.data_dir,
            head.number,
            l1_genesis.hash.hex()[:16],
        )

    def _open_journal(self) -> tuple[Journal | None, list[JournalRecord]]:
        if not self.config.sequencer.journal.enabled:
            return None, []
        return open_journal(self.config.node.data_dir, self.config.sequencer.journal.fsync)

    async def _restore_mempool(self, txpool: TxPool, records: list[JournalRecord]) -> None:
        if txpool.journal is not None:
            txpool.journal.start()
        report = await txpool.restore(records)
        if records:
            log.info(
                "mempool journal replayed: %d transaction(s) back in the pool, %d already included, %d no longer valid",
                report.restored,
                report.included,
                report.invalid,
            )

    def _build_parts(self, view: L1Client, journal: Journal | None = None, recoverer: Recoverer | None = None) -> None:
        cfg = self.config
        chain_lock = asyncio.Lock()  # block production and healing never overlap
        self.mempool = Mempool(cfg.sequencer.mempool, priority=priority_of)
        self.recoverer = recoverer = recoverer or Recoverer(cfg.sequencer.recovery_workers)
        self.waiters = ReceiptWaiters()
        settings = cfg.sequencer.journal
        self.txpool = TxPool(
            self.chain,
            self.mempool,
            journal,
            rotate_ms=settings.rotate_ms,
            dropped_history=settings.dropped_history,
            on_drop=self.waiters.dropped,
        )
        self.healer = ChainHealer(
            self.chain,
            cfg.rollup.rules,
            chain_lock,
            resubmit=lambda rtx: self.methods.admit_recovered(rtx),  # recovered once, when its block went
            is_pooled=self.mempool.__contains__,
            on_healed=self._on_healed,
            on_round=self._on_requeue_round,
        )
        self.txpool.attach_backlog(self.healer)  # a backlog entry's nonce is taken, as a pooled one's
        self.finality = FinalityTracker(ChainBlocks(self.chain, self.healer))
        self.follower = L1Follower(view, self.healer, self.finality, start=self.healer.first_l1_block())
        self.producer = BlockProducer(
            self.chain,
            cfg.rollup.rules,
            self.follower,
            self.mempool,
            cfg.sequencer.block_time_ms,
            self._on_sealed,
            censor=frozenset(cfg.sequencer.censor),
            min_block_time_ms=cfg.sequencer.min_block_time_ms,
            max_seal_txs=cfg.sequencer.max_seal_txs,
            lock=chain_lock,
            safe_number=lambda: self.healer.safe_head().number,
        )
        self.latency = SoftLatency(capacity=max(cfg.sequencer.mempool.max_txs, 1))
        self.methods = SequencerMethods(
            self.chain,
            self.txpool,
            recoverer,
            self.waiters,
            on_admitted=lambda rtx: self.producer.notify_arrival(),
            latency=self.latency,
            ready_to_seal=lambda: self.producer.ready_to_seal(),
        )
        self.server.add_topic("newHeads")  # a heal at start-up publishes before the RPC is registered

    def _register_rpc(self) -> None:
        register_read_methods(self.server, self)
        self.methods.register(
            self.server,
            devnet=self.config.node.devnet,
            data_dir=self.config.node.data_dir,
            control=inproc_handlers("sequencer", SequencerReload(self)),
        )
        self.server.add_topic("newHeads")
        self.server.set_health(self._health)

    def _init_metrics(self) -> None:
        m = self.server.metrics
        self.m_unsafe = m.gauge("l2_unsafe_head", "Newest sealed L2 block")
        self.m_txs = m.counter("l2_txs_total", "Transactions sealed into L2 blocks (system ones included)")
        self.m_rejected = m.counter("l2_txs_rejected_total", "Mempool transactions left out of a block as invalid")
        self.m_seal = m.histogram("block_seal_seconds", "Time to build, execute and commit one L2 block", SEAL_BUCKETS)
        self.m_soft = m.histogram(
            "tx_soft_confirm_seconds",
            "From a submission reaching the RPC method to its block committed and announced",
            SOFT_BUCKETS,
        )
        self.m_reorgs = m.counter("l2_reorgs_total", "Heals: our blocks replaced because L1 derived others")
        self.m_requeued = m.counter("l2_reorg_requeued_txs_total", "Transactions of replaced blocks admitted again")
        self.m_reorg_dropped = m.counter(
            "l2_reorg_dropped_txs_total", "Transactions of replaced blocks no longer valid"
        )
        m.gauge_fn(
            "l2_reorg_requeue_backlog",
            "Transactions of replaced blocks waiting for mempool room",
            lambda: len(self.healer.backlog),
        )
        m.gauge_fn("mempool_size", "Transactions in the mempool", lambda: len(self.mempool))
        m.gauge_fn(
            "mempool_queued", "Queued (future-nonce) transactions in the mempool", lambda: self.mempool.status().queued
        )
        m.gauge_fn("l2_safe_head", "Newest of our blocks found in batches on L1", lambda: self.heads().safe.number)
        m.gauge_fn(
            "l2_finalized_head", "Newest of our blocks under a finalized output", lambda: self.heads().finalized.number
        )
        m.gauge_fn("l1_head", "Newest L1 block seen", lambda: self.follower.head)
        self.m_unsafe.set(self.chain.head().number)

    def _health(self) -> dict[str, Any]:
        head = self.chain.head()
        return {"status": "ok", "unsafe": head.number, "l1Head": self.follower.head, "mempool": len(self.mempool)}

    # -- block gossip -----------------------------------------------------------------------

    async def _start_network(self) -> None:
        section = self.config.p2p
        if section is None:
            return
        self.signing_key = resolve_key(self.config.sequencer.key or "")
        self.gossip_queue: asyncio.Queue[Block] = asyncio.Queue()
        self.network = BlockNetwork(section, self.config.rollup.chain_id, self.signing_key.address, self._serve_range)
        await self.network.__aenter__()
        self.tasks.spawn("gossip", self._gossip_loop(self.network))
        log.info(
            "gossiping blocks as %s (peer %s)", to_checksum_address(self.signing_key.address), self.network.peer_id
        )

    async def _gossip_loop(self, network: BlockNetwork) -> None:
        """Publish sealed blocks one at a time, in order (publishing waits on slow peers)."""
        while True:
            block = await self.gossip_queue.get()
            await network.publish(sign_block(self.signing_key, self.config.rollup.chain_id, self._as_gossiped(block)))

    def _as_gossiped(self, block: Block) -> Block:
        """Test mode `faulty_gossip_block`: a different, valid block at that height (L1 gets the real one)."""
        if block.number != self.config.sequencer.faulty_gossip_block:
            return block
        log.warning("test mode: gossiping a different block %d than the one posted to L1", block.number)
        return Block(replace(block.header, timestamp_ms=block.header.timestamp_ms + 1), block.transactions)

    def _serve_range(self, first: int, count: int) -> list[bytes]:
        messages: list[bytes] = []
        size = 0
        for number in range(first, min(first + count, self.chain.head().number + 1)):
            block = self.chain.store.get_block(number)
            if block is None:
                break
            message = sign_block(self.signing_key, self.config.rollup.chain_id, block).encode()
            size += len(message)
            if messages and size > MAX_RANGE_RESPONSE_BYTES // 2:
                break
            messages.append(message)
        return messages

    def _on_sealed(self, report: BlockReport) -> None:
        self.txpool.on_block(report)
        self.waiters.resolve(report)
        block = report.sealed.block
        build = report.build
        self.healer.note_sealed(
            [r.hash for r in build.transactions], [(r.rtx.hash, str(r.error)) for r in build.rejected]
        )
        if self.network is not None:
            self.gossip_queue.put_nowait(block)
        self._publish_head(block, report.sealed.head.hash)
        self.m_unsafe.set(block.number)
        self.m_txs.inc(len(block.transactions))
        self.m_rejected.inc(len(report.build.rejected))
        self.m_seal.observe(report.seconds)
        for waited in self.latency.sealed(rtx.hash for rtx in build.transactions):
            self.m_soft.observe(waited)

    def _publish_head(self, block: Block, block_hash: bytes, reorg: bool = False) -> None:
        self.server.publish(
            "newHeads",
            {
                "number": block.number,
                "hash": "0x" + block_hash.hex(),
                "stateRoot": "0x" + block.header.state_root.hex(),
                "timestamp": block.header.timestamp_ms,
                "txCount": len(block.transactions),
                **({"reorg": True} if reorg else {}),
            },
        )

    def _on_healed(self, report: HealReport) -> None:
        """The chain now ends in L1-derived blocks: tell subscribers, count it, seal on top at once."""
        first = max(report.first_replaced, report.head.number - MAX_HEAL_HEADS + 1)
        for number in range(first, report.head.number + 1):
            block = self.chain.store.get_block(number)
            if block is not None:
                self._publish_head(block, block.hash(), reorg=number == first)
        self.m_reorgs.inc()
        self.m_unsafe.set(report.head.number)
        self.producer.notify_arrival()

    def _on_requeue_round(self, outcome: RequeueRound) -> None:
        self.m_requeued.inc(outcome.requeued)
        self.m_reorg_dropped.inc(len(outcome.dropped))
        if outcome.requeued:
            self.producer.notify_arrival()

    async def _shutdown(self) -> None:
        self.stop.set()
        with contextlib.suppress(Exception):
            await self.server.stop()
        producer = getattr(self, "producer", None)
        if producer is not None:
            await producer.drain()
        await self.tasks.cancel_all()
        txpool = getattr(self, "txpool", None)
        if txpool is not None:
            await txpool.close()
        if self.network is not None:
            with contextlib.suppress(Exception):
                await self.network.__aexit__(None, None, None)
        if self.recoverer is not None:
            self.recoverer.close()
        if self.view is not None:
            await self.view.close()
        if self.store is not None:
            self.store.close()
            self.store = None
        log.info("sequencer stopped")
