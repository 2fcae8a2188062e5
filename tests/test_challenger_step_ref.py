"""The one-step proof's StepRef: where the L1 finds a block's transactions in its inbox (prover.step_ref)."""

from __future__ import annotations

import pytest

from node.batch import BatchBlock, encode_batch
from node.block import ZERO_HASH, Block, BlockHeader
from node.crypto import Address
from node.tx import DepositTx, Transfer
from prover.step_ref import InboxBlock, StepRefError, compute_step_ref
from tests.test_fraud_support import CHAIN_ID, KEYS, rtx_of

SENDER = Address(b"\x11" * 20)


def block(number: int, origin: int, txs: list[bytes], timestamp: int = 5_000) -> Block:
    header = BlockHeader(number, ZERO_HASH, timestamp, origin, ZERO_HASH, ZERO_HASH, ZERO_HASH)
    return Block(header, tuple(txs))


def user_txs(n: int, nonce: int = 0) -> list[bytes]:
    return [rtx_of(KEYS[0], nonce + i, Transfer(KEYS[1].address, 1 + i)).raw for i in range(n)]


def batch(*blocks: Block, system: int = 0) -> bytes:
    return encode_batch(
        [BatchBlock(b.number, b.header.timestamp_ms, b.header.l1_origin_number, b.transactions[system:]) for b in blocks],
        CHAIN_ID,
    )


def test_a_block_inside_its_epoch_names_its_batch_only() -> None:
    b = block(7, 3, user_txs(2))
    inbox = [InboxBlock(3, 0, (), ()), InboxBlock(4, 1, (), ((0, b"junk"), (2, batch(block(6, 3, user_txs(1)), b))))]
    ref = compute_step_ref(b, parent_origin=3, origin=inbox[0], candidates=inbox, chain_id=CHAIN_ID)
    assert ref.batch == (4, 2) and ref.system is None


def test_an_epoch_opening_block_lists_the_forced_transactions_it_included() -> None:
    deposit = DepositTx(5, 0, SENDER, KEYS[2].address, 9).encode()
    forced_ok, forced_left_out, forced_ok2 = user_txs(1, nonce=0)[0], user_txs(1, nonce=7)[0], user_txs(1, nonce=1)[0]
    users = user_txs(1, nonce=2)
    b = block(9, 5, [deposit, forced_ok, forced_ok2, *users])
    origin = InboxBlock(5, 1, ((1, forced_ok), (2, forced_left_out), (3, forced_ok2)), ())
    later = InboxBlock(6, 0, (), ((0, batch(b, system=3)),))
    ref = compute_step_ref(b, parent_origin=4, origin=origin, candidates=[origin, later], chain_id=CHAIN_ID)
    assert ref.system == (1, 3) and ref.batch == (6, 0)


def test_a_default_block_has_no_batch() -> None:
    deposit = DepositTx(5, 0, SENDER, KEYS[2].address, 9).encode()
    b = block(9, 5, [deposit])
    ref = compute_step_ref(b, parent_origin=4, origin=InboxBlock(5, 1, (), ()), candidates=[], chain_id=CHAIN_ID)
    assert ref.batch is None and ref.system == ()


def test_a_block_without_user_transactions_still_names_its_batch() -> None:
    # the opening's derivability check needs the batch's timestamp: only a default block has none
    b = block(8, 3, [])
    inbox = [InboxBlock(3, 0, (), ()), InboxBlock(4, 0, (), ((1, batch(block(7, 3, user_txs(1)), b)),))]
    ref = compute_step_ref(b, parent_origin=3, origin=inbox[0], candidates=inbox, chain_id=CHAIN_ID)
    assert ref.batch == (4, 1) and ref.system is None


def test_a_batch_with_other_contents_for_that_number_is_skipped() -> None:
    b = block(7, 3, user_txs(2))
    other = block(7, 3, user_txs(1))  # an earlier, invalid version of block 7
    inbox = [InboxBlock(3, 0, (), ((0, batch(other)),)), InboxBlock(4, 0, (), ((1, batch(b)),))]
    assert compute_step_ref(b, 3, inbox[0], inbox, CHAIN_ID).batch == (4, 1)
    with pytest.raises(StepRefError):
        compute_step_ref(b, 3, inbox[0], inbox[:1], CHAIN_ID)
