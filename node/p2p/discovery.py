"""Peer discovery by peer exchange: join with one bootstrap address and find the rest of the network.

Protocol `/rollup/peer-exchange/1` (node.p2p.reqresp), JSON both ways:

    request   {"addr": "/ip4/H/tcp/P/p2p/ID"}          the asker's own listen multiaddr
    response  {"peers": ["/ip4/.../p2p/ID", ...]}       the answerer's listen multiaddr first, then the
                                                       multiaddrs it knows of peers connected to it now
    error     {"error": "<why>"}                        a malformed request (the node keeps serving)

A request is accepted only when its multiaddr names the peer that sent it (its /p2p/ID is the
stream's peer id), so a peer cannot advertise addresses under other peers' ids through its own
record; addresses learnt second-hand are only dialled, and a dial checks the peer id (Noise).
Every `interval` seconds `Discovery` asks each connected peer, records what it learns
(at most `max_known` addresses), and dials known peers that are not connected while it has
fewer than `max_peers`: a peer that left and came back is reconnected on a later round
(failed dials back off per peer, doubling up to `max_backoff`). It uses only `P2PNode`'s
public API (request handlers, requests, connect, peers), on the asyncio side.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass

from node.p2p.errors import P2PError
from node.p2p.host import P2PNode
from node.p2p.identity import parse_multiaddr

log = logging.getLogger(__name__)

PEER_EXCHANGE_PROTOCOL = "/rollup/peer-exchange/1"
MAX_REQUEST_BYTES = 1024
MAX_PEERS_PER_RESPONSE = 64


class PeerExchangeError(P2PError):
    """A peer-exchange message that is not what the protocol allows."""


@dataclass(frozen=True, slots=True)
class PeerRecord:
    """A peer id and the multiaddr it listens on."""

    peer_id: str
    multiaddr: str


def record_from(multiaddr: object) -> PeerRecord:
    """Parse one advertised multiaddr (`/ip4/H/tcp/P/p2p/ID`) or raise PeerExchangeError."""
    if not isinstance(multiaddr, str) or len(multiaddr) > 200:
        raise PeerExchangeError("a peer address must be a multiaddr string of at most 200 characters")
    try:
        peer_id = parse_multiaddr(multiaddr).peer_id
    except P2PError as exc:
        raise PeerExchangeError(f"bad peer address {multiaddr!r}: {exc}") from None
    return PeerRecord(peer_id, multiaddr)


def parse_request(data: bytes, sender: str) -> PeerRecord:
    if len(data) > MAX_REQUEST_BYTES:
        raise PeerExchangeError(f"request of {len(data)} bytes (at most {MAX_REQUEST_BYTES})")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PeerExchangeError(f"request is not JSON: {exc}") from None
    if not isinstance(doc, dict) or set(doc) != {"addr"}:
        raise PeerExchangeError('request must be {"addr": "<own multiaddr>"}')
    record = record_from(doc["addr"])
    if record.peer_id != sender:
        raise PeerExchangeError(f"request advertises peer {record.peer_id}, but was sent by {sender}")
    return record


def parse_response(data: bytes) -> list[PeerRecord]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PeerExchangeError(f"response is not JSON: {exc}") from None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        raise PeerExchangeError(f"peer refused: {doc['error']}")
    if not isinstance(doc, dict) or not isinstance(doc.get("peers"), list):
        raise PeerExchangeError('response must be {"peers": [...]}')
    if len(doc["peers"]) > MAX_PEERS_PER_RESPONSE:
        raise PeerExchangeError(f"response lists {len(doc['peers'])} peers (at most {MAX_PEERS_PER_RESPONSE})")
    return [record_from(addr) for addr in doc["peers"]]


class Discovery:
    """Peer exchange over one P2PNode (start() after the node is up; stop() before it closes)."""

    def __init__(
        self,
        node: P2PNode,
        *,
        interval: float = 2.0,
        max_peers: int = 16,
        max_known: int = 256,
        request_timeout: float = 5.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.node = node
        self.interval = interval
        self.max_peers = max_peers
        self.max_known = max_known
        self.request_timeout = request_timeout
        self.max_backoff = max_backoff
        self.known: dict[str, str] = {}  # peer id -> listen multiaddr
        self._retry_at: dict[str, tuple[float, float]] = {}  # peer id -> (monotonic time, backoff)
        self._task: asyncio.Task[None] | None = None
        self.dialled = 0
        self.rejected_requests = 0

    async def start(self) -> None:
        self.node.register_handler(PEER_EXCHANGE_PROTOCOL, self._serve)
        self._task = asyncio.create_task(self._run(), name="peer-exchange")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ---- serving -------------------------------------------------------
    async def _serve(self, request: bytes, peer: str) -> bytes:
        try:
            record = parse_request(request, peer)
        except PeerExchangeError as exc:
            self.rejected_requests += 1
            return json.dumps({"error": str(exc)}).encode()
        self._learn(record)
        return json.dumps({"peers": self._advertised(exclude=peer)}).encode()

    def _advertised(self, exclude: str) -> list[str]:
        connected = set(self.node.peers())
        others = [addr for pid, addr in sorted(self.known.items()) if pid in connected and pid != exclude]
        return [self.node.listen_addr, *others][:MAX_PEERS_PER_RESPONSE]

    def _learn(self, record: PeerRecord) -> None:
        if record.peer_id == self.node.peer_id:
            return
        if record.peer_id not in self.known and len(self.known) >= self.max_known:
            return
        if self.known.get(record.peer_id) != record.multiaddr:
            log.info("discovered peer %s at %s", record.peer_id[-8:], record.multiaddr)
        self.known[record.peer_id] = record.multiaddr

    # ---- asking and dialling -------------------------------------------
    async def _run(self) -> None:
        while True:
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad round must not end discovery
                log.warning("peer exchange round failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def round(self) -> None:
        """Ask every connected peer for its peers, then dial the known ones we are not connected to."""
        if self.node.partitioned:
            return
        request = json.dumps({"addr": self.node.listen_addr}).encode()
        peers = list(self.node.peers())
        replies = await asyncio.gather(*(self._ask(peer, request) for peer in peers))
        for records in replies:
            for record in records:
                self._learn(record)
        await self._dial_missing()

    async def _ask(self, peer: str, request: bytes) -> list[PeerRecord]:
        try:
            data = await self.node.request(peer, PEER_EXCHANGE_PROTOCOL, request, timeout=self.request_timeout)
            return parse_response(data)
        except (P2PError, TimeoutError) as exc:
            log.debug("peer exchange with %s failed: %s", peer[-8:], exc)
            return []

    async def _dial_missing(self) -> None:
        connected = set(self.node.peers())
        now = time.monotonic()
        for peer_id, addr in sorted(self.known.items()):
            if len(connected) >= self.max_peers:
                return
            if peer_id in connected or peer_id == self.node.peer_id:
                self._retry_at.pop(peer_id, None)
                continue
            at, backoff = self._retry_at.get(peer_id, (0.0, self.interval))
            if now < at:
                continue
            try:
                await self.node.connect(addr)
            except P2PError as exc:
                log.debug("dialling discovered peer %s failed: %s", peer_id[-8:], exc)
                self._retry_at[peer_id] = (now + backoff, min(backoff * 2, self.max_backoff))
                continue
            self.dialled += 1
            self._retry_at.pop(peer_id, None)
            connected.add(peer_id)
            log.info("connected to discovered peer %s", peer_id[-8:])
