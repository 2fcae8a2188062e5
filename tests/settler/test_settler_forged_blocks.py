"""Forged and mis-signed blocks offered to the settler, over gossip and over range sync (real libp2p nodes).

The settler's feed (l1.settler.feed: a real BlockNetwork and BlockStore)
has two peers: an attacker, which gossips blocks signed by another key and
blocks whose content was changed under the sequencer's signature, and
answers range requests with the same; and, later, an honest peer serving the
sequencer's real signed blocks. Every bad block is rejected with its reason
(gossip: `rejected`, range sync: `rangeRejected`), none is held, so none can
be batched or give an output root: a settler over that store has nothing to
batch and its verified chain does not move. Once the honest peer answers,
the held blocks are exactly the sequencer's, the batch equals
`rollup_getBatchBlocks` and the roots equal `rollup_outputAtBlock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from l1.settler.blockstore import BlockStore
from l1.settler.config import settler_config_from_dict
from l1.settler.feed import GossipFeed
from l1.settler.inbox import InboxWalker
from l1.settler.process import Settler
from node.block import Block
from node.blocknet import BlockNetwork, P2PSection
from node.gossip import SignedBlock, sign_block
from node.p2p import derive_seed
from node.rpc.metrics import Metrics
from tests.derivation.test_derivation import RULES as ROLLUP_RULES
from tests.derivation.test_derivation import Sequencer
from tests.settler.test_settler_gossip_blocks import (
    OTHER_KEY,
    RULES,
    SEQUENCER_KEY,
    rpc_blocks,
    sealed_chain,
    signed_blocks,
)
from tests.settler.test_settler_output_source import config_doc
from tests.settler.test_settler_verified_outputs import derivation_block, rpc_root, walked
from tests.support.p2p_peer import free_port

CHAIN_ID = RULES.chain_id


def section(label: str, port: int, bootstrap: tuple[str, ...] = ()) -> P2PSection:
    return P2PSection(port, derive_seed(label), bootstrap, SEQUENCER_KEY.address)


def forgeries(real: list[SignedBlock]) -> list[bytes]:
    """For each real block: one signed by another key, and one with a transaction removed under the
    sequencer's signature (so the signature no longer recovers to the sequencer)."""
    out: list[bytes] = []
    for signed in real:
        block = signed.block
        fresh = Block(replace(block.header, timestamp_ms=int(time.time() * 1000)), block.transactions)
        out.append(sign_block(OTHER_KEY, CHAIN_ID, fresh).encode())
        tampered = SignedBlock(signed.chain_id, Block(fresh.header, fresh.transactions[:-1]), signed.signature)
        out.append(tampered.encode())
    return out


@contextlib.asynccontextmanager
async def peer(label: str, serve: list[bytes]) -> AsyncIterator[BlockNetwork]:
    network = BlockNetwork(section(label, free_port()), CHAIN_ID, SEQUENCER_KEY.address, lambda first, count: serve)
    async with network:
        network.node.set_validator(network.topic, lambda data: True)  # it relays anything it is given
        yield network


def unposted(seq: Sequencer) -> InboxWalker:
    """The inbox walk of L1 blocks 0..3: nothing posted yet, so a batch starts at L2 block 1."""
    walker = InboxWalker(ROLLUP_RULES)
    walker.start_at_genesis(derivation_block(seq, 0))
    for n in (1, 2, 3):
        walker.process_l1_block(derivation_block(seq, n))
    return walker


async def eventually(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_forged_blocks_over_gossip_and_range_sync_are_never_held(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    real = signed_blocks(seq.chain)
    bad = forgeries(real)
    store = BlockStore(tmp_path / "held", RULES)
    async with peer("forger", bad) as attacker:
        feed = GossipFeed(
            section("settler under attack", free_port(), (attacker.node.listen_addr,)), CHAIN_ID, store, Metrics()
        )
        await feed.start()
        try:
            await eventually(lambda: attacker.peer_id in feed.network.peers(), 20, "the attacker connected")
            await asyncio.sleep(1.0)  # the gossip mesh forms
            # range sync: the attacker's answer is rejected whole
            assert await feed.fill(1, 12) == 0
            assert feed.range_rejected.get("bad_signature", 0) >= 1
            # gossip: every forged block is rejected before delivery
            for message in bad:
                await attacker.node.publish(attacker.topic, message)
            await eventually(lambda: feed.network.rejected.get("bad_signature", 0) >= 2, 20, "gossip rejections")
            await asyncio.sleep(0.5)
            assert len(store) == 0 and feed.last_new is None
            assert feed.report()["rangeRejected"]["bad_signature"] >= 1

            # a settler over this store: nothing to batch, no verified root
            settler = Settler(settler_config_from_dict(config_doc(tmp_path, with_rpc=False, fallback_ms=60_000)))
            settler.feed = feed
            settler.walker = unposted(seq)
            assert await settler.held_batch(1, 256) == []
            settler.walker = walked(seq, 12)
            await settler._verify_held()
            assert settler.verified.tip_number == 0 and settler.verified.root(10) is None

            # an honest peer: the real blocks are taken, and only they
            async with peer("honest", [s.encode() for s in real]) as honest:
                await feed.network.node.connect(honest.node.listen_addr)
                await eventually(lambda: honest.peer_id in feed.network.peers(), 20, "the honest peer connected")
                taken = 0
                for _ in range(3):  # the attacker may be asked first: its answer is rejected again
                    taken += await feed.fill(1, 12)
                    if taken:
                        break
                assert taken == 12
            assert {n: b.hash() for n, b in store.blocks.items()} == {s.block.number: s.block.hash() for s in real}
            settler.walker = unposted(seq)
            assert await settler.held_batch(1, 256) == rpc_blocks(seq.chain, 1, 12)
            settler.walker = walked(seq, 12)
            await settler._verify_held()
            assert settler.verified.tip_number == 12
            assert all(settler.verified.root(k) == rpc_root(seq.chain, k) for k in range(1, 13))
            await settler.l1.close()
        finally:
            await feed.stop()
