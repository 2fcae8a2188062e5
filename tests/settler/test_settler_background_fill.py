"""The settler's range sync runs in the background (l1.settler.feed.GossipFeed.fill_soon).

A peer that never answers a range request held the settler's whole round for FILL_TIMEOUT_S (5 s) per
request: `devnet up` waited 5.4-5.9 s for its first batch on a loaded machine. Now a round only starts
the sync: one at a time, what it takes is in the store for the next round, and a devnet revert's hold
(or the settler stopping) cancels it so no block of an abandoned chain arrives late.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from l1.settler.blockstore import BlockStore
from l1.settler.feed import GossipFeed
from node.gossip import SignedBlock
from node.rpc.metrics import Metrics
from tests.settler.test_settler_forged_blocks import CHAIN_ID, section
from tests.settler.test_settler_gossip_blocks import RULES, sealed_chain, signed_blocks
from tests.support.p2p_peer import free_port


class SlowPeers:
    """Stands in for the feed's BlockNetwork: one peer, whose range answers wait until released."""

    def __init__(self, blocks: list[SignedBlock]) -> None:
        self.blocks = blocks
        self.release = asyncio.Event()
        self.asked: list[int] = []

    def peers(self) -> list[str]:
        return ["slow-peer"]

    async def request_range(self, peer: str, first: int, count: int) -> list[SignedBlock]:
        self.asked.append(first)
        await self.release.wait()
        return [s for s in self.blocks if first <= s.block.number < first + count]


def feed_with(tmp_path: Path, peers: SlowPeers) -> GossipFeed:
    feed = GossipFeed(
        section("background fill", free_port()), CHAIN_ID, BlockStore(tmp_path / "held", RULES), Metrics()
    )
    feed.network = peers  # type: ignore[assignment]
    return feed


async def test_a_slow_peer_holds_back_nothing_and_its_blocks_arrive_for_the_next_round(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=6)
    peers = SlowPeers(signed_blocks(seq.chain))
    feed = feed_with(tmp_path, peers)
    assert feed.fill_soon(1, 6) is True  # returns at once
    await asyncio.sleep(0.05)
    assert peers.asked == [1] and len(feed.store) == 0
    assert feed.fill_soon(1, 6) is False  # one range sync at a time
    peers.release.set()
    for _ in range(100):
        if len(feed.store) == 6:
            break
        await asyncio.sleep(0.01)
    assert sorted(feed.store.blocks) == [1, 2, 3, 4, 5, 6]
    assert feed.fill_soon(7, 6) is True  # the last one ended: another may start


async def test_a_hold_cancels_the_sync_in_flight_and_nothing_it_asked_for_arrives(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=6)
    peers = SlowPeers(signed_blocks(seq.chain))
    feed = feed_with(tmp_path, peers)
    feed.fill_soon(1, 6)
    await asyncio.sleep(0.05)
    await feed.cancel_fill()
    peers.release.set()  # the answer would come now
    await asyncio.sleep(0.05)
    assert len(feed.store) == 0
    await feed.cancel_fill()  # nothing in flight: a no-op
