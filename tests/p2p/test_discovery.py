"""Peer exchange (node.p2p.discovery): nodes that know only a bootstrap peer find each other and reconnect.

Real P2PNodes on loopback: three nodes bootstrap to a hub only and, through the
hub's answers, connect to each other; a discovered peer that leaves and comes
back (same seed and port, dialling nobody itself) is dialled again by the others;
malformed or forged peer-exchange requests get an error answer and the node
keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest

from node.p2p import P2PConfig, P2PNode
from node.p2p.discovery import (
    PEER_EXCHANGE_PROTOCOL,
    Discovery,
    PeerExchangeError,
    parse_request,
    parse_response,
)
from tests.p2p.test_p2p_gossip import config, eventually
from tests.support.p2p_peer import free_port

FAST = {"interval": 0.3, "request_timeout": 3.0, "max_backoff": 1.0}


@contextlib.asynccontextmanager
async def discovering(cfg: P2PConfig, enabled: bool = True) -> AsyncIterator[tuple[P2PNode, Discovery]]:
    async with P2PNode(cfg) as node:
        discovery = Discovery(node, **FAST)  # type: ignore[arg-type]
        if enabled:
            await discovery.start()
        try:
            yield node, discovery
        finally:
            await discovery.stop()


def connected(node: P2PNode, *others: P2PNode) -> bool:
    return {other.peer_id for other in others} <= set(node.peers())


async def test_nodes_with_one_bootstrap_address_find_each_other_and_reconnect() -> None:
    async with contextlib.AsyncExitStack() as stack:
        hub, _ = await stack.enter_async_context(discovering(config("disc hub")))
        boot = (hub.listen_addr,)
        a, disc_a = await stack.enter_async_context(discovering(config("disc a", bootstrap=boot)))
        b, disc_b = await stack.enter_async_context(discovering(config("disc b", bootstrap=boot)))
        c_port = free_port()
        c_config = config("disc c", listen_port=c_port, bootstrap=boot)
        c_ctx = discovering(c_config)
        c, _ = await c_ctx.__aenter__()
        try:
            started = time.monotonic()
            await eventually(lambda: connected(a, b, c) and connected(b, a, c), 20, "a, b and c all connected")
            found_after = time.monotonic() - started
            await eventually(lambda: disc_a.known.get(c.peer_id) == c.listen_addr, 10, "a to record c's address")
            await eventually(lambda: disc_b.known.get(c.peer_id) == c.listen_addr, 10, "b to record c's address")
        finally:
            await c_ctx.__aexit__(None, None, None)
        await eventually(lambda: not connected(a, c) and not connected(b, c), 20, "c gone")
        # c comes back at the same address, dialling nobody and not discovering: a and b must dial it
        async with discovering(config("disc c", listen_port=c_port), enabled=False) as (c2, _):
            started = time.monotonic()
            await eventually(lambda: connected(c2, a, b), 20, "a and b to reconnect to c")
            back_after = time.monotonic() - started
        assert disc_a.dialled + disc_b.dialled >= 3  # found peers, then c again
        print(f"peers found in {found_after:.2f} s; a returning peer redialled in {back_after:.2f} s")


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xfe",
        b"not json",
        b"[]",
        b'{"addr": 5}',
        b'{"addr": "/ip4/127.0.0.1/tcp/1"}',
        b'{"addr": "/dns4/localhost/tcp/1/p2p/x"}',
        b'{"addr": "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWLBwSNpDEMQZDXX22W1GRsRc8auVYJAQXdgbZ8nuKRLep", "x": 1}',
        b"{" + b" " * 2000 + b"}",
    ],
)
def test_malformed_requests_are_rejected(payload: bytes) -> None:
    with pytest.raises(PeerExchangeError):
        parse_request(payload, "12D3KooWLBwSNpDEMQZDXX22W1GRsRc8auVYJAQXdgbZ8nuKRLep")


@pytest.mark.parametrize(
    "payload",
    [
        b"nope",
        b"{}",
        b'{"peers": "x"}',
        b'{"peers": [1]}',
        b'{"error": "bad"}',
        json.dumps({"peers": ["x"] * 65}).encode(),
    ],
)
def test_malformed_responses_are_rejected(payload: bytes) -> None:
    with pytest.raises(PeerExchangeError):
        parse_response(payload)


async def test_a_node_answers_bad_requests_with_an_error_and_keeps_serving() -> None:
    async with discovering(config("disc server")) as (server, disc), P2PNode(config("disc client")) as client:
        await client.connect(server.listen_addr)
        forged = json.dumps({"addr": server.listen_addr}).encode()  # another peer's id, not the sender's
        for bad in (b"garbage", forged):
            reply = json.loads(await client.request(server.peer_id, PEER_EXCHANGE_PROTOCOL, bad, timeout=5))
            assert set(reply) == {"error"}
        assert disc.rejected_requests == 2 and client.peer_id not in disc.known
        good = json.dumps({"addr": client.listen_addr}).encode()
        reply = parse_response(await client.request(server.peer_id, PEER_EXCHANGE_PROTOCOL, good, timeout=5))
        assert reply[0].multiaddr == server.listen_addr
        assert disc.known[client.peer_id] == client.listen_addr
        await eventually(lambda: connected(server, client), 5, "still connected")
