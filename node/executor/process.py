"""The executor (replica) process: derives the L2 chain from L1 data alone and serves reads.

Parts, started in dependency order and stopped in reverse:
  chain follower (store, genesis, node.follower) -> p2p -> derivation loop -> finality loop -> JSON-RPC.

- Derivation: L1 blocks are fetched in order and handed to the Deriver; the
  last processed L1 block is recorded after each one (re-processing after a
  crash is harmless: derived blocks are skipped).
- Heads: safe = newest derived block; unsafe = safe until gossip arrives
  (libp2p issue); finalized = newest block covered by a finalized output
  proposal whose root equals ours (a mismatch is logged as critical).
- `rollup_sendRawTransaction` and `rollup_getTransactionStatus` are forwarded to the sequencer.
- Devnet control (`[node] devnet = true`, node.rpc.control): `devnet_partition`
  cuts the executor off the gossip network (node.blocknet.BlockNetwork.partition)
  while derivation keeps following L1, so its safe head still advances;
  `devnet_heal` reconnects and range sync catches the unsafe head up. Both
  are idempotent and answer {"partitioned": bool, "peers": n}; /health and
  the metric p2p_partitioned show the partition.

Run: `rollup executor --config FILE` (or `python -m node.executor --config FILE`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l1.contracts.client import L1Client, OutputReport
from l1.contracts.state import OutputStatus
from node.attestation_net import (
    ATTESTATION_JOURNAL,
    AttestationNetwork,
    AttestationSection,
    attestations_report,
    load_attestation_section,
)
from node.blocknet import BlockNetwork, P2PSection, load_p2p_section
from node.chain import Chain
from node.derivation import DerivationResult
from node.devnet.inproc.control import inproc_handlers
from node.encoding import DecodeError
from node.executor.revert import ExecutorReload
from node.follower import ChainFollower
from node.gossip import MAX_RANGE_COUNT, MAX_RANGE_RESPONSE_BYTES, GossipRejected, SignedBlock
from node.l2rpc import Heads, head_json, register_read_methods
from node.output import compute_output_root
from node.p2p import P2PError
from node.rollup_config import NodeSection, RollupConfig, load_node_section, load_rollup_config
from node.rpc.client import RpcClient, RpcTransportError
from node.rpc.control import register_control
from node.rpc.errors import ControlRefused, Unavailable
from node.rpc.params import hash32, hex_bytes, positional, uint
from node.rpc.server import RpcServer
from node.service import BackgroundTasks, ConfigError, load_toml
from node.store.chain import ChainStore, Head
from node.tx import MAX_TX_BYTES
from node.unsafe import Accepted, UnsafeFollower

log = logging.getLogger("executor")


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    node: NodeSection
    rollup: RollupConfig
    l1_rpc: str
    sequencer_rpc: str | None
    poll_ms: int
    history_window: int
    p2p: P2PSection | None = None
    attestation: AttestationSection | None = None  # node.attestation_net; needs [p2p]


def load_executor_config(path: Path | str) -> ExecutorConfig:
    doc = load_toml(path)
    section = doc.get("executor")
    if not isinstance(section, dict):
        raise ConfigError("config has no [executor] section")
    l1_rpc = section.get("l1_rpc")
    if not isinstance(l1_rpc, str) or not l1_rpc.startswith("http"):
        raise ConfigError("executor.l1_rpc must be an http URL")
    sequencer_rpc = section.get("sequencer_rpc")
    if sequencer_rpc is not None and not isinstance(sequencer_rpc, str):
        raise ConfigError("executor.sequencer_rpc must be an http URL")
    poll_ms = section.get("poll_ms", 200)
    window = section.get("history_window", 2048)
    if not isinstance(poll_ms, int) or not 10 <= poll_ms <= 60_000:
        raise ConfigError("executor.poll_ms must be an integer in [10, 60000]")
    if not isinstance(window, int) or window < 1:
        raise ConfigError("executor.history_window must be a positive integer")
    p2p = load_p2p_section(doc)
    if p2p is not None and p2p.sequencer is None:
        raise ConfigError("p2p.sequencer (the address that signs gossiped blocks) is required for an executor")
    attestation = load_attestation_section(doc)
    if attestation is not None and p2p is None:
        raise ConfigError("[attestation] needs a [p2p] section (attestations are gossiped)")
    return ExecutorConfig(
        load_node_section(doc, Path(path).parent),
        load_rollup_config(doc),
        l1_rpc,
        sequencer_rpc,
        poll_ms,
        window,
        p2p,
        attestation,
    )


class Executor:
    def __init__(self, config: ExecutorConfig) -> None:
        self.config = config
        self.tasks = BackgroundTasks()
        self.store: ChainStore | None = None
        self.chain: Chain = None  # type: ignore[assignment]  # set in __aenter__
        self.l1 = L1Client(config.l1_rpc)
        self.sequencer = RpcClient(config.sequencer_rpc) if config.sequencer_rpc else None
        self.server = RpcServer("executor", health=self._health)
        self._l1_head = 0
        self._finalized: Head | None = None
        self._outputs_seen = 0
        self._stopping = asyncio.Event()
        self.network: BlockNetwork | None = None
        self._range_syncing = False
        self.attestations: AttestationNetwork | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> Executor:
        self.follower = ChainFollower(
            self.config.node.data_dir, self.config.rollup, self.l1, self.config.history_window
        )
        await self.follower.open()
        self.store, self.chain, self.deriver = self.follower.require_store(), self.follower.chain, self.follower.deriver
        self.unsafe = UnsafeFollower(self.chain, self.deriver.safe)
        self._init_metrics()
        # before the network: its gossip checks read the devnet clock this loads (node.clock)
        control = {"devnet_partition": self._devnet_partition, "devnet_heal": self._devnet_heal}
        control.update(inproc_handlers("executor", ExecutorReload(self)))
        register_control(
            self.server,
            "executor",
            enabled=self.config.node.devnet,
            handlers=control,
            data_dir=self.config.node.data_dir,
        )
        await self._start_network()
        self.tasks.spawn("derivation", self._derivation_loop())
        self.tasks.spawn("finality", self._finality_loop())
        register_read_methods(self.server, self)
        self.server.register("rollup_getAttestations", self._get_attestations)
        self.server.register("rollup_sendRawTransaction", self._forward_transaction)
        self.server.register("rollup_getTransactionStatus", self._forward_status)
        self.server.add_topic("newHeads")
        port = await self.server.start(self.config.node.rpc_host, self.config.node.rpc_port)
        log.info(
            "executor serving JSON-RPC on %s (port %d), safe head %d",
            self.server.url,
            port,
            self.deriver.safe.safe_head().number,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        await self.server.stop()
        await self.tasks.cancel_all()
        if self.network is not None:
            with contextlib.suppress(Exception):
                await self.network.__aexit__(None, None, None)
        await self.l1.close()
        if self.sequencer is not None:
            await self.sequencer.close()
        self.follower.close()

    # -- the unsafe head, from gossip ----------------------------------------------------------

    async def _start_network(self) -> None:
        section = self.config.p2p
        if section is None or section.sequencer is None:
            return
        self.network = BlockNetwork(section, self.config.rollup.chain_id, section.sequencer, self._serve_range)
        await self.network.__aenter__()
        await self.network.follow(self._on_gossip)
        if self.config.attestation is not None:
            self.attestations = AttestationNetwork(
                self.network.node,
                self.config.attestation,
                self.config.rollup.chain_id,
                lambda: self.chain.head().number,
                self.server.metrics,
                journal=self.config.attestation.journal or Path(self.config.node.data_dir) / ATTESTATION_JOURNAL,
            )
            await self.attestations.start()

    async def _on_gossip(self, signed: SignedBlock, peer: str) -> None:
        result = self.unsafe.accept(signed)
        self._report_unsafe(result)
        if result.gap is not None and not self._range_syncing:
            self._range_syncing = True
            self.tasks.spawn(f"range-sync-{result.gap[0]}", self._range_sync(peer))

    async def _range_sync(self, peer: str) -> None:
        """Fetch missing blocks from `peer` until the buffered gossip connects to our unsafe head."""
        try:
            while self.unsafe.pending_count():
                first = self.chain.head().number + 1
                try:
                    blocks = await self.network.request_range(peer, first, MAX_RANGE_COUNT)  # type: ignore[union-attr]
                except (P2PError, DecodeError, GossipRejected) as exc:
                    log.warning("range sync of blocks from %d with %s failed: %s", first, peer, exc)
                    return
                if not blocks:
                    return
                for signed in blocks:
                    self._report_unsafe(self.unsafe.accept(signed))
                self.m_range_synced.inc(len(blocks))
                if self.chain.head().number < first:
                    return  # no progress (invalid blocks): leave it to L1
        finally:
            self._range_syncing = False

    def _report_unsafe(self, result: Accepted) -> None:
        for number in result.applied:
            block = self.store.get_block(number)  # type: ignore[union-attr]
            if block is not None:
                head = Head(number, block.hash(), block.header.state_root)
                self.server.publish(
                    "newHeads",
                    {
                        **head_json(head),
                        "timestamp": block.header.timestamp_ms,
                        "txCount": len(block.transactions),
                        "kind": "unsafe",
                    },
                )
        self.m_gossip_applied.inc(len(result.applied))
        if result.equivocation is not None:
            self.m_equivocations.inc()
        if result.invalid:
            log.warning("gossip: %s", result.invalid)

    def _serve_range(self, first: int, count: int) -> list[bytes]:
        """Blocks we hold the sequencer's signature for (those that came by gossip)."""
        messages: list[bytes] = []
        size = 0
        for number in range(first, min(first + count, self.chain.head().number + 1)):
            block = self.store.get_block(number)  # type: ignore[union-attr]
            signature = self.unsafe.signature_of(number)
            if block is None or signature is None:
                break
            message = SignedBlock(self.config.rollup.chain_id, block, signature).encode()
            size += len(message)
            if messages and size > MAX_RANGE_RESPONSE_BYTES // 2:
                break
            messages.append(message)
        return messages

    # -- devnet control: partition and heal ------------------------------------------------

    async def _devnet_partition(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "devnet_partition")
        network = self._require_network("devnet_partition")
        peers = await network.partition()
        log.warning("devnet: partitioned from the gossip network; following L1 only")
        return {"partitioned": True, "peers": peers}

    async def _devnet_heal(self, params: list[Any]) -> dict[str, Any]:
        positional(params, 0, 0, "devnet_heal")
        network = self._require_network("devnet_heal")
        peers = await network.heal()
        log.warning("devnet: partition healed; reconnecting to peers")
        return {"partitioned": False, "peers": peers}

    def _require_network(self, method: str) -> BlockNetwork:
        if self.network is None:
            raise ControlRefused(f"{method}: this executor has no [p2p] section (it follows L1 only)")
        return self.network

    def _get_attestations(self, params: list[Any]) -> dict[str, Any]:
        """rollup_getAttestations(blockNumber): the attestations held at an output height (node.attestation_net)."""
        number = uint(positional(params, 1, 0, "rollup_getAttestations")[0], "blockNumber", maximum=2**63)
        if self.attestations is None:
            raise Unavailable("this executor has no [attestation] section")
        block = self.store.get_block(number) if number <= self.deriver.safe.safe_head().number else None  # type: ignore[union-attr]
        own = None if block is None else compute_output_root(number, block.header.state_root, block.hash())
        return attestations_report(self.attestations.pool, number, own)

    def _health(self) -> dict[str, Any]:
        network = self.network
        return {
            "status": "ok",
            "p2p": network is not None,
            "partitioned": network is not None and network.partitioned,
            "peers": len(network.peers()) if network is not None else 0,
        }

    def p2p_status(self) -> dict[str, Any]:
        if self.network is None:
            return {"enabled": False}
        return {
            "enabled": True,
            "partitioned": self.network.partitioned,
            "peerId": self.network.peer_id,
            "peers": self.network.peers(),
            "rejected": dict(self.network.rejected),
            "equivocations": self.unsafe.evidence(),
            "reorgs": self.deriver.safe.reorgs,
            "attestationsRejected": self.attestations.rejected() if self.attestations is not None else {},
        }

    # -- derivation -------------------------------------------------------------------------

    def cursor(self) -> int:
        return self.follower.cursor()

    async def _derivation_loop(self) -> None:
        while True:
            try:
                progressed = await self._derive_step()
            except RpcTransportError as exc:
                log.warning("L1 unreachable, retrying: %s", exc)
                progressed = False
            if not progressed:
                await asyncio.sleep(self.config.poll_ms / 1000)

    async def _derive_step(self) -> bool:
        results = await self.follower.sync_step()
        self._l1_head = self.follower.l1_head
        for result in results:
            self._report(result)
        return bool(results)

    def _report(self, result: DerivationResult) -> None:
        self.m_dropped.inc(len(result.dropped))  # the follower logs the reasons
        for first, discarded in result.reorgs:
            log.warning("reorg: L1 replaced unsafe blocks %d..%d", first, discarded)
            self.m_reorgs.inc()
        for sealed in result.derived:
            if self.attestations is not None and self.attestations.is_output_height(sealed.head.number):
                root = compute_output_root(sealed.head.number, sealed.head.state_root, sealed.head.hash)
                self.tasks.spawn(f"attest-{sealed.head.number}", self.attestations.attest(sealed.head.number, root))
            self.m_blocks.inc()
            self.m_txs.inc(len(sealed.block.transactions))
            self.server.publish(
                "newHeads",
                {
                    **head_json(sealed.head),
                    "timestamp": sealed.block.header.timestamp_ms,
                    "txCount": len(sealed.block.transactions),
                    "kind": "safe",
                },
            )

    # -- finality ---------------------------------------------------------------------------

    async def _finality_loop(self) -> None:
        while True:
            try:
                await self._update_finalized()
            except RpcTransportError as exc:
                log.warning("L1 unreachable for output proposals: %s", exc)
            await asyncio.sleep(max(0.25, self.config.poll_ms / 1000))

    async def _update_finalized(self) -> None:
        outputs: list[OutputReport] = await self.l1.get_outputs(max(0, self._outputs_seen - 64), 256)
        safe = self.deriver.safe.safe_head()
        for output in outputs:
            self._outputs_seen = max(self._outputs_seen, output.index + 1)
            number = output.l2_block_number
            if output.status is not OutputStatus.FINALIZED or number > safe.number:
                continue
            if self._finalized is not None and number <= self._finalized.number:
                continue
            block = self.store.get_block(number)  # type: ignore[union-attr]
            if block is None:
                continue
            ours = compute_output_root(number, block.header.state_root, block.hash())
            if ours != output.output_root:
                log.critical("finalized output root for L2 block %d differs from ours: fraud went unchallenged", number)
                self.m_output_mismatch.inc()
                continue
            self._finalized = Head(number, block.hash(), block.header.state_root)

    # -- what the read RPC needs ---------------------------------------------------------

    def heads(self) -> Heads:
        finalized = self._finalized or self._genesis_head()
        return Heads(unsafe=self.chain.head(), safe=self.deriver.safe.safe_head(), finalized=finalized)

    def _genesis_head(self) -> Head:
        block = self.store.get_block(0)  # type: ignore[union-attr]
        if block is None:
            raise RuntimeError("genesis block missing from the store")
        return Head(0, block.hash(), block.header.state_root)

    def l1_head(self) -> int:
        return self._l1_head

    async def _forward_transaction(self, params: list[Any]) -> str:
        raw_hex = positional(params, 1, 0, "rollup_sendRawTransaction")[0]
        hex_bytes(raw_hex, "transaction", max_length=MAX_TX_BYTES)
        return str(await self._forward("rollup_sendRawTransaction", raw_hex))

    async def _forward_status(self, params: list[Any]) -> Any:
        tx_hash = positional(params, 1, 0, "rollup_getTransactionStatus")[0]
        hash32(tx_hash, "hash")
        return await self._forward("rollup_getTransactionStatus", tx_hash)

    async def _forward(self, method: str, *params: Any) -> Any:
        if self.sequencer is None:
            raise Unavailable("this executor has no sequencer to forward transactions to")
        try:
            return await self.sequencer.call(method, *params)
        except RpcTransportError as exc:
            raise Unavailable(f"the sequencer is unreachable: {exc}") from None

    def _init_metrics(self) -> None:
        m = self.server.metrics
        self.m_blocks = m.counter("l2_derived_blocks_total", "L2 blocks derived from L1")
        self.m_txs = m.counter("l2_txs_total", "L2 transactions in derived blocks")
        self.m_dropped = m.counter("derivation_dropped_total", "batches or blocks dropped by derivation")
        self.m_output_mismatch = m.counter("output_root_mismatch_total", "finalized output roots that differ from ours")
        self.m_reorgs = m.counter("l2_reorgs_total", "unsafe blocks replaced because L1 decided otherwise")
        self.m_gossip_applied = m.counter("gossip_blocks_applied_total", "gossiped blocks applied as the unsafe head")
        self.m_range_synced = m.counter("range_sync_blocks_total", "blocks fetched by range sync")
        self.m_equivocations = m.counter(
            "sequencer_equivocations_total", "heights with two different sequencer-signed blocks"
        )
        m.gauge_fn("p2p_peers", "connected p2p peers", lambda: len(self.network.peers()) if self.network else 0)
        m.gauge_fn(
            "p2p_partitioned",
            "1 while cut off the gossip network by devnet_partition",
            lambda: 1 if self.network is not None and self.network.partitioned else 0,
        )
        m.gauge_fn("l2_safe_head", "safe L2 head", lambda: self.deriver.safe.safe_head().number)
        m.gauge_fn("l2_unsafe_head", "unsafe L2 head", lambda: self.chain.head().number)
        m.gauge_fn("l2_finalized_head", "finalized L2 head", lambda: self.heads().finalized.number)
        m.gauge_fn("l1_head", "L1 head seen", lambda: self._l1_head)
        m.gauge_fn("derivation_l1_cursor", "last L1 block processed by derivation", self.cursor)
        m.gauge_fn("disk_bytes", "bytes of the chain database on disk", lambda: self.store.kv.disk_bytes())  # type: ignore[union-attr]
