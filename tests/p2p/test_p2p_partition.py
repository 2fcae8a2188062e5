"""P2PNode.set_partitioned (devnet_partition / devnet_heal): a partitioned node has no peers in either direction.

Real in-process nodes over loopback: while partitioned the node drops its
connections, stops dialling its bootstrap peers, refuses to dial and closes
connections others open to it, so no gossip reaches it; healed, its
reconnect loop dials again and gossip flows (messages published during the
partition may then arrive from the publisher's recent-message cache, as
after any reconnection; never while partitioned).
"""

from __future__ import annotations

import asyncio

import pytest

from node.p2p import PeerUnreachableError
from tests.p2p.test_p2p_gossip import Inbox, config, eventually, started


async def stays(predicate: object, seconds: float) -> None:
    """`predicate()` holds for `seconds` (checked every 50 ms)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        assert predicate(), "condition broke"  # type: ignore[operator]
        await asyncio.sleep(0.05)


async def test_partition_cuts_both_directions_and_heal_reconnects() -> None:
    async with started(config("part-a")) as (a,):
        async with started(config("part-b", bootstrap=(a.listen_addr,))) as (b,):
            inbox = Inbox()
            await b.subscribe("blocks", inbox.handler("b"))
            await a.wait_for_topic_peers("blocks", 1)
            await a.publish("blocks", b"before")
            await eventually(lambda: inbox.got["b"] == [b"before"])

            assert await b.set_partitioned(True) == 0
            assert b.partitioned and b.peers() == []
            await eventually(lambda: b.peer_id not in a.peers(), what="a sees b gone")
            await stays(lambda: b.peer_id not in a.peers(), 1.5)  # b's reconnect loop does not dial a again

            with pytest.raises(PeerUnreachableError, match="partitioned"):
                await b.connect(a.listen_addr)
            await a.connect(b.listen_addr)  # a dials b: b closes the connection at once
            await eventually(lambda: b.peer_id not in a.peers(), what="b to close a's connection")
            await a.publish("blocks", b"during")
            await stays(lambda: inbox.got["b"] == [b"before"], 1.0)

            assert await b.set_partitioned(True) == 0  # idempotent
            await b.set_partitioned(False)
            assert not b.partitioned
            await eventually(lambda: a.peer_id in b.peers() and b.peer_id in a.peers(), what="reconnected")
            await a.wait_for_topic_peers("blocks", 1)
            await a.publish("blocks", b"after")
            await eventually(lambda: b"after" in inbox.got["b"], what="gossip after heal")
            # (b"during" may arrive now: gossipsub replays its recent-message cache to a peer that reconnects)
