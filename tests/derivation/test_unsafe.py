"""Following gossiped blocks: in-order application, gaps, duplicates, equivocation, invalid blocks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from node.block import Block
from node.crypto import PrivateKey
from node.derivation import Deriver
from node.gossip import decode_signed_block, sign_block
from node.unsafe import EVIDENCE_PREFIX, UnsafeFollower, decode_evidence
from tests.derivation.test_derivation import ALICE, BOB, CHAIN_ID, RULES, Sequencer, l1_block, new_chain

SEQUENCER_KEY = PrivateKey(bytes([42]) * 32)


def setup(tmp_path: Path, blocks: int = 5) -> tuple[Sequencer, UnsafeFollower, list]:  # type: ignore[type-arg]
    seq = Sequencer(new_chain(tmp_path / "seq"))
    seq.l1[1] = l1_block(1)
    for _ in range(blocks):
        seq.seal([seq.transfer(ALICE, BOB.address, 1)])
    signed = [sign_block(SEQUENCER_KEY, CHAIN_ID, seq.chain.store.get_block(n)) for n in range(1, blocks + 1)]  # type: ignore[arg-type]
    deriver = Deriver(new_chain(tmp_path / "replica"), RULES)
    return seq, UnsafeFollower(deriver.chain, deriver.safe), signed


def test_in_order_and_gap_filling(tmp_path: Path) -> None:
    seq, follower, signed = setup(tmp_path)
    assert follower.accept(signed[0]).applied == [1]
    result = follower.accept(signed[3])  # block 4 arrives before 2 and 3
    assert result.applied == [] and result.gap == (2, 3)
    result = follower.accept(signed[1])
    assert result.applied == [2] and result.gap == (3, 3)
    result = follower.accept(signed[2])
    assert result.applied == [3, 4] and result.gap is None
    follower.accept(signed[4])
    assert follower.chain.head() == seq.chain.head()
    assert follower.signature_of(5) == signed[4].signature


def test_duplicates_and_equivocation(tmp_path: Path) -> None:
    seq, follower, signed = setup(tmp_path, blocks=2)
    follower.accept(signed[0])
    assert follower.accept(signed[0]).duplicate
    other = Block(replace(signed[0].block.header, timestamp_ms=signed[0].block.header.timestamp_ms + 1), ())
    conflicting = sign_block(SEQUENCER_KEY, CHAIN_ID, other)
    result = follower.accept(conflicting)
    assert result.equivocation == 1 and follower.evidence() == [1]
    first, second = decode_evidence(follower.chain.store.kv.get(EVIDENCE_PREFIX + (1).to_bytes(8, "big")))  # type: ignore[arg-type]
    assert decode_signed_block(first) == signed[0] and decode_signed_block(second) == conflicting
    assert follower.chain.head().number == 1  # nothing replaced


def test_invalid_block_is_not_applied(tmp_path: Path) -> None:
    seq, follower, signed = setup(tmp_path, blocks=2)
    bad = Block(replace(signed[0].block.header, state_root=bytes(32)), signed[0].block.transactions)
    result = follower.accept(sign_block(SEQUENCER_KEY, CHAIN_ID, bad))
    assert result.applied == [] and result.invalid is not None
    assert follower.chain.head().number == 0
    assert follower.accept(signed[0]).applied == [1]
