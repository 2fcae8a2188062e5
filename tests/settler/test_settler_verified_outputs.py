"""Output roots from held blocks (l1.settler.verified), against the sequencer's own `rollup_outputAtBlock`.

A sequencer chain whose epoch 1 opens with a deposit and a forced
transaction is posted as one batch to a hand-made L1; the settler's inbox
walk records what L1 derived, and the verified chain over the sequencer's
signed blocks gives, for every block, the root `rollup_outputAtBlock`
gives. A held block that is not the one L1 derived (an equivocating
sequencer's re-signed block, a block not on its parent) stops the chain with
the reason; an anchor from a proposal is taken only if the root matches.
Once L1 derived default blocks, the held blocks are stale only from the first
height where L1 derived another block (`first_replaced_held`).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from l1.contracts.client import BatchEvent, DepositEvent, DerivationBlock, ForcedTxEvent
from l1.settler.inbox import InboxCheckpoint, InboxError, InboxWalker
from l1.settler.verified import Derived, VerifiedChain, compute_block_output_root, first_replaced_held
from node.batch import encode_batch
from node.block import Block
from node.chain import Chain
from node.crypto import Hash32, parse_hex
from node.gossip import sign_block
from node.l2rpc import _Reader
from tests.derivation.test_derivation import RULES, Sequencer
from tests.settler.test_settler_gossip_blocks import (
    SEQUENCER_KEY,
    SequencerNode,
    rpc_blocks,
    sealed_chain,
    signed_blocks,
)

CHAIN_ID = 901


def derivation_block(seq: Sequencer, number: int, batch: bytes | None = None) -> DerivationBlock:
    data = seq.l1[number]
    deposits = tuple(DepositEvent(i, b"\x11" * 20, d.to, d.amount) for i, d in enumerate(data.deposits))
    forced = tuple(ForcedTxEvent(10 + i, tx) for i, tx in enumerate(data.forced_txs))
    batches = () if batch is None else (BatchEvent(20, batch),)
    return DerivationBlock(number, Hash32(data.hash), data.timestamp_ms, deposits, forced, batches)


def walked(seq: Sequencer, last: int) -> InboxWalker:
    """The inbox walk of L1 blocks 0..4, the batch of blocks 1..last posted in L1 block 4."""
    seq.l1[4] = replace(seq.l1[3], number=4, hash=b"\x44" * 32, timestamp_ms=seq.l1[3].timestamp_ms + 1000)
    walker = InboxWalker(RULES)
    walker.start_at_genesis(derivation_block(seq, 0))
    for n in (1, 2, 3):
        walker.process_l1_block(derivation_block(seq, n))
    batch = encode_batch(rpc_blocks(seq.chain, 1, last), CHAIN_ID)
    walker.process_l1_block(derivation_block(seq, 4, batch))
    assert walker.head_number == last
    return walker


def rpc_root(chain: Chain, number: int) -> Hash32:
    return Hash32(parse_hex(_Reader(SequencerNode(chain)).outputAtBlock([number])["outputRoot"]))


def held(chain: Chain) -> dict[int, Block]:
    return {s.block.number: s.block for s in signed_blocks(chain)}


def test_roots_of_verified_held_blocks_equal_rollup_output_at_block(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    assert any(d.system_count == 2 for d in walker.derived.values()), "the deposit and forced epoch is walked"
    chain = VerifiedChain()
    chain.anchor_genesis()
    assert chain.advance(held(seq.chain), walker.derived, walker.head_number) == 12
    assert chain.tip_number == 12 and chain.stalled is None
    for k in range(1, 13):
        assert chain.root(k) == rpc_root(seq.chain, k), f"block {k}"


def test_the_tip_stops_at_the_derivable_head_and_at_a_missing_block(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 8)
    blocks = held(seq.chain)
    chain = VerifiedChain()
    chain.anchor_genesis()
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 8 and chain.root(9) is None
    chain = VerifiedChain()
    chain.anchor_genesis()
    del blocks[5]
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 4


def test_a_signed_block_that_is_not_the_one_l1_derived_stops_the_chain(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    blocks = held(seq.chain)
    # the sequencer signs a different block 6 (one transaction less) on the same parent: L1 has the other one
    other = Block(blocks[6].header, blocks[6].transactions[:-1])
    blocks[6] = sign_block(SEQUENCER_KEY, CHAIN_ID, other).block
    chain = VerifiedChain()
    chain.anchor_genesis()
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 5 and chain.root(6) is None
    assert chain.stalled is not None and "not the block L1 derived" in chain.stalled
    # the right block arrives (range sync, the re-sealed one): the chain moves on
    blocks[6] = held(seq.chain)[6]
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 12 and chain.stalled is None


def test_a_block_not_on_the_verified_parent_stops_the_chain(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    blocks = held(seq.chain)
    blocks[7] = Block(replace(blocks[7].header, parent_hash=Hash32(b"\x01" * 32)), blocks[7].transactions)
    chain = VerifiedChain()
    chain.anchor_genesis()
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 6 and chain.stalled is not None and "not on the verified block 6" in chain.stalled


def test_an_anchor_from_our_proposal_needs_its_root(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    blocks = held(seq.chain)
    chain = VerifiedChain()
    assert not chain.anchor(blocks[5], rpc_root(seq.chain, 6))
    assert chain.tip is None and chain.stalled is not None and "not our proposal's" in chain.stalled
    assert chain.anchor(blocks[5], rpc_root(seq.chain, 5))
    walker.forget_derived_below(6)
    chain.advance(blocks, walker.derived, walker.head_number)
    assert chain.tip_number == 12 and chain.root(10) == rpc_root(seq.chain, 10)
    chain.prune_below(10)
    assert sorted(chain.roots) == [10, 11, 12]
    assert compute_block_output_root(blocks[12]) == rpc_root(seq.chain, 12)


def test_the_checkpoint_keeps_what_l1_derived_for_a_restart(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    walker.forget_derived_below(7)
    checkpoint = walker.checkpoint()
    assert checkpoint is not None
    again = InboxCheckpoint.from_json(checkpoint.to_json())
    assert again == checkpoint and [n for n, _ in again.derived] == list(range(7, 13))
    restored = InboxWalker(RULES)
    restored.restore(again, [])
    chain = VerifiedChain()
    blocks = held(seq.chain)
    assert chain.anchor(blocks[6], rpc_root(seq.chain, 6))
    chain.advance(blocks, restored.derived, restored.head_number)
    assert chain.tip_number == 12
    old = checkpoint.to_json()
    del old["derived"]  # a checkpoint written before digests were kept
    assert InboxCheckpoint.from_json(old).derived == ()


def test_held_block_roots_differ_from_a_forged_state_root(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=4)
    block = held(seq.chain)[3]
    forged = Block(replace(block.header, state_root=Hash32(b"\x02" * 32)), block.transactions)
    assert compute_block_output_root(forged) != rpc_root(seq.chain, 3)


def test_a_malformed_derived_list_in_the_checkpoint_is_refused(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=4)
    checkpoint = walked(seq, 4).checkpoint()
    assert checkpoint is not None
    for bad in ([[1, "0x12", 0]], [[1]], "x", [[1, "0x" + "00" * 32, "many"]]):
        doc = {**checkpoint.to_json(), "derived": bad}
        with pytest.raises(InboxError, match="malformed inbox checkpoint"):
            InboxCheckpoint.from_json(doc)


def test_a_settler_without_p2p_records_no_digests(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=4)
    walker = InboxWalker(RULES)
    walker.records_derived = False
    walker.start_at_genesis(derivation_block(seq, 0))
    walker.process_l1_block(derivation_block(seq, 1))
    assert walker.derived == {}


def test_held_blocks_are_stale_only_from_the_first_height_l1_derived_otherwise(tmp_path: Path) -> None:
    seq, _ = sealed_chain(tmp_path, blocks=12)
    walker = walked(seq, 12)
    blocks = held(seq.chain)
    derived = dict(walker.derived)
    assert first_replaced_held(blocks, derived, 12) is None  # every derived height is the held block
    assert first_replaced_held({}, derived, 12) is None
    other = Derived(Hash32(b"\x01" * 32), derived[5].system_count)  # L1 derived another block at 5
    assert first_replaced_held(blocks, {**derived, 5: other}, 12) == 5
    assert first_replaced_held(blocks, {**derived, 5: other}, 4) is None  # not derived yet as far as we walked
    too_many = Derived(derived[7].digest, len(blocks[7].transactions) + 1)  # more system txs than it holds
    assert first_replaced_held(blocks, {**derived, 7: too_many}, 12) == 7
    gap = {n: b for n, b in blocks.items() if n != 7}  # 8.. are held, 7 is not: they cannot be checked
    assert first_replaced_held(gap, derived, 12) == 7
    top = {n: b for n, b in blocks.items() if n <= 6}  # derived above what is held: nothing held is stale
    assert first_replaced_held(top, derived, 12) is None
