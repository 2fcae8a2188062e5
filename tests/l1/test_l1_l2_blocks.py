"""The L1 derives the same L2 blocks as the nodes do, from its own inbox (l1/contracts/l2_blocks.py, node/shape.py).

A real L2 chain's batches sit in a real L1 chain (tests.l1.support.World), plus a malformed
batch, a batch naming a later origin than allowed and epochs left empty past the sequencing window. A node's
Deriver fed with the same L1 blocks must derive exactly the blocks the L1 recorded: same timestamps, origins,
and the transactions the L1 rebuilds from its inbox (their root is the header's). A store written before the
L1 followed its inbox is backfilled to the same records.
"""

from __future__ import annotations

from pathlib import Path

from l1.chain.store import read_block
from l1.contracts.events import EVENTS
from l1.contracts.inbox import rebuild_transactions
from l1.contracts.l2_blocks import L2_BLOCK_PREFIX, L2_HEAD_KEY, get_l2_block, get_l2_head
from l1.contracts.payloads import PostBatch
from l1.contracts.startup import backfill
from node.batch import BatchBlock, encode_batch
from node.block import compute_tx_root
from node.chain import Chain
from node.crypto import keccak256
from node.derivation import Deriver
from node.store.chain import ChainStore
from tests.fraud.support import ALLOC, CONFIG
from tests.l1.support import BATCHER, L1_START_MS, RULES, World, l1_block_data


def build_world(tmp_path: Path) -> World:
    world = World(tmp_path)
    world.build_scenario()
    head = world.honest.head().number
    garbage = world.run(BATCHER, PostBatch(b"\x93not a batch"))
    assert garbage.receipt.status == 1  # included: derivation, not the L1's kind rule, ignores it
    far = encode_batch([BatchBlock(head + 1, 10**12, world.l1.head.number + 5, ())], CONFIG.chain_id)
    assert world.run(BATCHER, PostBatch(far)).receipt.status == 1  # an origin that does not exist yet: dropped
    world.mine_until(world.l1.head.number + RULES.sequencing_window + 3)  # empty epochs get default blocks
    return world


def derive_like_a_node(world: World, tmp_path: Path) -> Chain:
    """A node's derivation of L1 blocks 0 .. head - 1: the L1 itself appends an L1 block's default blocks at
    the start of the next one, so after block `head` it has derived exactly that much."""
    chain = Chain(ChainStore(tmp_path / "node"), CONFIG)
    chain.init_genesis(ALLOC, timestamp_ms=L1_START_MS, l1_origin=(0, world.l1.get_block(0).hash()))  # type: ignore[union-attr]
    deriver = Deriver(chain, RULES)
    for number in range(0, world.l1.head.number):
        block = read_block(world.l1.kv, number, EVENTS)
        assert block is not None
        data = l1_block_data(block)
        batches = tuple(e.data for e in block.events if type(e).__name__ == "BatchPosted")
        deriver.process_l1_block(
            type(data)(data.number, data.hash, data.timestamp_ms, data.deposits, data.forced_txs, batches)
        )
    return chain


def test_the_l1_derives_the_blocks_the_nodes_derive(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    node = derive_like_a_node(world, tmp_path)
    try:
        head = get_l2_head(world.l1.kv)
        assert head.number == node.head().number > world.honest.head().number  # default blocks after the batches
        for number in range(1, head.number + 1):
            record, block = get_l2_block(world.l1.kv, number), node.store.get_block(number)
            assert record is not None and block is not None
            assert (record.timestamp_ms, record.l1_origin_number) == (
                block.header.timestamp_ms,
                block.header.l1_origin_number,
            )
            origin = read_block(world.l1.kv, record.l1_origin_number, EVENTS)
            assert origin is not None and origin.hash() == block.header.l1_origin_hash
            txs = rebuild_transactions(world.l1.kv, CONFIG.chain_id, record, origin)
            assert compute_tx_root([keccak256(t) for t in txs]) == block.header.tx_root
            assert (record.batch is None) == (
                number > world.honest.head().number
            )  # the scenario's blocks come from batches
    finally:
        node.store.close()
        world.close()


def test_a_store_written_before_the_l1_followed_its_inbox_is_backfilled(tmp_path: Path) -> None:
    world = build_world(tmp_path)
    try:
        head = get_l2_head(world.l1.kv)
        live = [get_l2_block(world.l1.kv, n) for n in range(1, head.number + 1)]
        old_keys = [L2_HEAD_KEY] + [L2_BLOCK_PREFIX + n.to_bytes(8, "big") for n in range(1, head.number + 1)]
        world.l1.kv.write({}, old_keys)  # as if the L1 had never tracked its L2 blocks
        assert get_l2_head(world.l1.kv).number == 0
        backfill(world.l1, world.l1.params)
        assert get_l2_head(world.l1.kv) == head
        assert [get_l2_block(world.l1.kv, n) for n in range(1, head.number + 1)] == live
        backfill(world.l1, world.l1.params)  # once only
        assert get_l2_head(world.l1.kv) == head
    finally:
        world.close()
