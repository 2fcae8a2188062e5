"""The rollup's block network: signed block gossip and range sync over node.p2p.

Used by the sequencer (publishes every sealed block, serves ranges) and by
executors (validate before relay, follow the unsafe head, fetch missing
ranges, serve ranges they hold signatures for). Config: an optional `[p2p]`
section; without it a process runs without gossip (executors then follow L1
only).

    [p2p]
    listen_port = 9645            # 0 = ephemeral
    seed = "executor-0"           # any label; sha256(label) is the node key, so the peer id is stable
    bootstrap = ["/ip4/127.0.0.1/tcp/9600/p2p/12D3Koo..."]
    sequencer = "0x..."           # executors: the address whose signature blocks must carry

Partition (devnet control, node.executor): `partition()` cuts the node off
the network in both directions: the p2p layer disconnects every peer,
stops dialling and closes new connections (node.p2p.peering), and on this
side gossip still in flight is not delivered, range requests from peers
are refused and none are sent. `heal()` reconnects to the bootstrap peers;
the next gossiped block shows the gap and range sync fills it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from node.clock import PROCESS_CLOCK
from node.crypto import Address, CryptoError, parse_address
from node.encoding import DecodeError
from node.gossip import (
    RANGE_SYNC_PROTOCOL,
    GossipRejected,
    GossipRules,
    SignedBlock,
    block_topic,
    decode_range_request,
    decode_range_response,
    decode_signed_block,
    encode_range_request,
    encode_range_response,
    validate_gossip,
)
from node.p2p import (
    P2PConfig,
    P2PError,
    P2PNode,
    PeerUnreachableError,
    RequestRejected,
    derive_seed,
    parse_multiaddr,
)
from node.p2p.discovery import Discovery
from node.service import ConfigError

log = logging.getLogger(__name__)

RANGE_TIMEOUT_S = 10.0
STATUS_BAD_REQUEST = 16
STATUS_PARTITIONED = 17
HEAL_WAIT_S = 3.0  # devnet_heal waits this long for the first peer to reconnect


@dataclass(frozen=True, slots=True)
class P2PSection:
    listen_port: int
    seed: bytes
    bootstrap: tuple[str, ...]
    sequencer: Address | None
    listen_host: str = "127.0.0.1"  # the IPv4 address the libp2p listener binds (scripts/netns_devnet.py: its own)
    discovery: bool = False  # peer exchange (node.p2p.discovery): find peers beyond the bootstrap list


def load_p2p_section(doc: Mapping[str, Any]) -> P2PSection | None:
    section = doc.get("p2p")
    if section is None:
        return None
    if not isinstance(section, Mapping):
        raise ConfigError("[p2p] must be a table")
    port = section.get("listen_port", 0)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise ConfigError("p2p.listen_port must be an integer in [0, 65535]")
    label = section.get("seed")
    if not isinstance(label, str) or not label:
        raise ConfigError("p2p.seed must be a non-empty string (it fixes the node's peer id)")
    bootstrap = section.get("bootstrap", [])
    if not isinstance(bootstrap, list) or not all(isinstance(a, str) for a in bootstrap):
        raise ConfigError("p2p.bootstrap must be a list of multiaddr strings")
    for addr in bootstrap:
        try:
            parse_multiaddr(addr)
        except P2PError as exc:
            raise ConfigError(f"p2p.bootstrap: {exc}") from None
    sequencer = section.get("sequencer")
    try:
        sequencer_address = parse_address(sequencer) if sequencer is not None else None
    except CryptoError as exc:
        raise ConfigError(f"p2p.sequencer: {exc}") from None
    listen_host = section.get("listen_host", "127.0.0.1")
    if not isinstance(listen_host, str) or not _is_ipv4(listen_host):
        raise ConfigError("p2p.listen_host must be a dotted IPv4 address")
    discovery = section.get("discovery", False)
    if not isinstance(discovery, bool):
        raise ConfigError("p2p.discovery must be true or false")
    return P2PSection(port, derive_seed(label), tuple(bootstrap), sequencer_address, listen_host, discovery)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


OnBlock = Callable[[SignedBlock, str], Awaitable[None]]
ServeRange = Callable[[int, int], list[bytes]]


class BlockNetwork:
    """A P2PNode speaking the rollup's block topic and range sync protocol."""

    def __init__(self, section: P2PSection, chain_id: int, sequencer: Address, serve_range: ServeRange) -> None:
        self.section = section
        self.rules = GossipRules(chain_id=chain_id, sequencer=sequencer)
        self.topic = block_topic(chain_id)
        self.serve_range = serve_range
        self.node = P2PNode(
            P2PConfig(
                seed=section.seed,
                listen_host=section.listen_host,
                listen_port=section.listen_port,
                bootstrap=section.bootstrap,
            )
        )
        self.discovery = Discovery(self.node) if section.discovery else None
        self.rejected: dict[str, int] = {}
        self.partitioned = False
        self.dropped_while_partitioned = 0

    async def __aenter__(self) -> BlockNetwork:
        await self.node.__aenter__()
        self.node.register_handler(RANGE_SYNC_PROTOCOL, self._serve)
        self.node.set_validator(self.topic, self._validate)
        log.info("p2p listening on %s", self.node.listen_addr)
        if self.discovery is not None:
            await self.discovery.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self.discovery is not None:
            await self.discovery.stop()
        await self.node.__aexit__(*exc)

    async def follow(self, on_block: OnBlock) -> None:
        """Deliver each valid gossiped block (decoded) to `on_block(signed, originator_peer)`."""

        async def handler(data: bytes, peer: str) -> None:
            if self.partitioned:
                self.dropped_while_partitioned += 1
                return
            try:
                signed = decode_signed_block(data)  # the topic validator checked it before delivery
            except DecodeError:
                return
            await on_block(signed, peer)

        await self.node.subscribe(self.topic, handler)

    async def publish(self, signed: SignedBlock) -> None:
        report = await self.node.publish(self.topic, signed.encode())
        if report.saturated:
            log.warning("published block %d while a peer was still saturated", signed.block.number)

    async def request_range(self, peer: str, first: int, count: int) -> list[SignedBlock]:
        """Blocks first.. from `peer`, each checked like gossip (except for age)."""
        if self.partitioned:
            raise PeerUnreachableError("range sync refused: this node is partitioned (devnet_partition)")
        raw = await self.node.request(peer, RANGE_SYNC_PROTOCOL, encode_range_request(first, count), RANGE_TIMEOUT_S)
        blocks = []
        rules = GossipRules(self.rules.chain_id, self.rules.sequencer, max_past_ms=2**62)
        for message in decode_range_response(raw):
            blocks.append(validate_gossip(message, rules, _now_ms()))
        return blocks

    def peers(self) -> list[str]:
        return self.node.peers()

    async def partition(self) -> int:
        """Cut this node off the network (idempotent); returns the peers still connected (0)."""
        self.partitioned = True
        return await self.node.set_partitioned(True)

    async def heal(self, wait_s: float = HEAL_WAIT_S) -> int:
        """Reconnect to the bootstrap peers (idempotent); returns the peers connected, after waiting up to
        `wait_s` for the first one when there are bootstrap peers to dial."""
        self.partitioned = False
        peers = await self.node.set_partitioned(False)
        deadline = time.monotonic() + wait_s
        while not peers and self.section.bootstrap and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            peers = len(self.node.peers())
        return peers

    @property
    def peer_id(self) -> str:
        return str(self.node.peer_id)

    def _validate(self, data: bytes) -> bool:
        try:
            validate_gossip(data, _rules_now(self.rules), _now_ms())
        except GossipRejected as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            return False
        return True

    async def _serve(self, request: bytes, peer: str) -> bytes:
        if self.partitioned:
            raise RequestRejected(STATUS_PARTITIONED, "this node is partitioned (devnet_partition)")
        try:
            first, count = decode_range_request(request)
        except DecodeError as exc:
            raise RequestRejected(STATUS_BAD_REQUEST, str(exc)) from None
        return encode_range_response(self.serve_range(first, count))


def _rules_now(rules: GossipRules) -> GossipRules:
    """`rules`, allowing blocks sealed just before a devnet time warp (node.clock) as if it had not happened:
    without this, the sequencer's own block sealed before its clock moved would fail its local check."""
    jump = PROCESS_CLOCK.recent_jump_ms(rules.max_past_ms / 1000)
    return replace(rules, max_past_ms=rules.max_past_ms + jump) if jump else rules


def _now_ms() -> int:
    """Chain time, as the sequencer stamps blocks: the wall clock plus the devnet offset (node.clock)."""
    return PROCESS_CLOCK.now_ms()
