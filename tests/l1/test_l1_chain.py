"""The L1 chain over a real RocksDB: genesis, mempool admission, block production, reads, restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from l1.chain.config import MempoolLimits
from l1.chain.errors import ChainConfigMismatch, TimestampNotIncreasing
from l1.chain.events import STATUS_SUCCESS
from l1.chain.producer import L1Chain
from l1.chain.store import ZERO_HASH, read_block
from l1.chain.tx import sign_l1_tx
from l1.contracts.events import EVENTS, BatchPosted, DepositLocked
from l1.contracts.params import L1ChainParams
from l1.contracts.payloads import Deposit, L1Transfer, PostBatch, ProposeOutput
from l1.contracts.reads import RollupReads
from l1.contracts.runtime import ROLLUP
from node.crypto import PrivateKey, keccak256, to_checksum_address
from node.encoding import pack
from node.keys.hd import dev_account
from node.mempool_errors import AlreadyKnown, MempoolFull, NonceGapTooLarge, ReplacementUnderpriced
from node.stf.errors import FeeTooLow, InsufficientBalance, NonceTooLow, WrongChainId
from node.store.kv import KVStore

ALICE, BATCHER, PROPOSER, BOB = (dev_account(i) for i in range(4))
FEE = 10
START = 10**18
PARAMS = L1ChainParams(900, FEE, BATCHER.address, 1000, 3, 1024)
GENESIS = tuple(sorted((k.address, START) for k in (ALICE, BATCHER, PROPOSER, BOB)))
LIMITS = MempoolLimits(max_txs=20, max_per_sender=8)
T0 = 1_700_000_000_000


def raw(key: PrivateKey, nonce: int, payload: object, value: int = 0, fee: int = FEE, chain_id: int = 900) -> bytes:
    return sign_l1_tx(key, chain_id, nonce, fee, value, payload).encode()


def open_chain(path: Path, genesis: tuple = GENESIS, max_block_txs: int = 100) -> L1Chain:
    chain = L1Chain(KVStore(path), PARAMS, genesis, ROLLUP, LIMITS, max_block_txs)
    chain.ensure_genesis(T0)
    return chain


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[L1Chain]:
    chain = open_chain(tmp_path / "l1")
    yield chain
    chain.kv.close()


def test_genesis_block_and_balances(chain: L1Chain) -> None:
    assert chain.head.number == 0 and chain.head.timestamp_ms == T0
    block = chain.get_block(0)
    assert block is not None and block.header.parent_hash == ZERO_HASH
    assert block.hash() == chain.head.hash == keccak256(pack(block.header.to_fields()))
    assert chain.get_balance(ALICE.address) == START
    assert chain.get_block(1) is None


def test_blocks_link_and_are_readable_by_number_and_hash(chain: L1Chain) -> None:
    tx_hash = chain.submit(raw(ALICE, 0, Deposit(BOB.address), 500))
    produced = chain.produce_block(T0 + 1000)
    block = produced.block
    assert block.number == 1 and block.header.parent_hash == chain.get_block(0).hash()  # type: ignore[union-attr]
    assert chain.get_block_by_hash(block.hash()) == block == chain.get_block(1)
    assert block.tx_hashes() == [tx_hash]
    included = chain.get_receipt(tx_hash)
    assert included is not None and included.block_number == 1 and included.receipt.status == STATUS_SUCCESS
    assert isinstance(included.events[0], DepositLocked) and included.events[0].amount == 500
    assert chain.get_receipt(b"\x00" * 32) is None
    with pytest.raises(TimestampNotIncreasing):
        chain.produce_block(T0 + 1000)


def test_empty_blocks_are_produced(chain: L1Chain) -> None:
    for i in range(1, 4):
        assert chain.produce_block(T0 + i).block.transactions == ()
    assert chain.head.number == 3 and [b.number for b in chain.get_blocks(1, 10)] == [1, 2, 3]


def test_submit_rejections(chain: L1Chain) -> None:
    with pytest.raises(WrongChainId):
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 1, chain_id=1))
    with pytest.raises(FeeTooLow):
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 1, fee=FEE - 1))
    with pytest.raises(InsufficientBalance):
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), START))
    with pytest.raises(NonceGapTooLarge):
        chain.submit(raw(ALICE, LIMITS.max_per_sender, L1Transfer(BOB.address), 1))
    first = raw(ALICE, 0, L1Transfer(BOB.address), 1)
    chain.submit(first)
    with pytest.raises(AlreadyKnown):
        chain.submit(first)
    chain.produce_block(T0 + 1)
    with pytest.raises(NonceTooLow):
        chain.submit(first)  # replayed after inclusion


def test_nonce_gap_is_held_until_filled(chain: L1Chain) -> None:
    chain.submit(raw(ALICE, 1, L1Transfer(BOB.address), 2))
    assert chain.get_pending_nonce(ALICE.address) == 0
    assert chain.produce_block(T0 + 1).block.transactions == ()
    chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 1))
    assert chain.get_pending_nonce(ALICE.address) == 2
    block = chain.produce_block(T0 + 2).block
    assert len(block.transactions) == 2
    assert chain.get_balance(BOB.address) == START + 3 and len(chain.mempool) == 0


def test_replacement_needs_a_higher_fee(chain: L1Chain) -> None:
    chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 1, fee=20))
    with pytest.raises(ReplacementUnderpriced):
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 2, fee=20))
    better = chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 3, fee=21))
    produced = chain.produce_block(T0 + 1)
    assert produced.block.tx_hashes() == [better]
    assert chain.get_balance(BOB.address) == START + 3


def test_mempool_caps(chain: L1Chain) -> None:
    for nonce in range(LIMITS.max_per_sender):
        chain.submit(raw(ALICE, nonce, L1Transfer(BOB.address), 1))
    with pytest.raises(NonceGapTooLarge):  # the per-sender window is full
        chain.submit(raw(ALICE, LIMITS.max_per_sender, L1Transfer(BOB.address), 1))
    for nonce in range(LIMITS.max_per_sender):
        chain.submit(raw(BOB, nonce, L1Transfer(ALICE.address), 1))
    for nonce in range(LIMITS.max_txs - 2 * LIMITS.max_per_sender):
        chain.submit(raw(PROPOSER, nonce, L1Transfer(ALICE.address), 1))
    with pytest.raises(MempoolFull):
        chain.submit(raw(BATCHER, 0, PostBatch(b"x")))


def test_refusals_keep_the_l1_words(chain: L1Chain) -> None:
    """The mempool core and its error classes are the sequencer's; the L1's messages on the wire are its own."""
    alice = to_checksum_address(ALICE.address)
    first = raw(ALICE, 0, L1Transfer(BOB.address), 1, fee=20)
    tx_hash = chain.submit(first)
    with pytest.raises(AlreadyKnown) as known:
        chain.submit(first)
    assert str(known.value) == f"already known: transaction 0x{tx_hash.hex()} is pending or included"
    with pytest.raises(ReplacementUnderpriced) as underpriced:
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 2, fee=20))
    assert str(underpriced.value) == (
        "replacement fee too low: the pending transaction with nonce 0 pays 20, "
        "a replacement must pay more than that, this one pays 20"
    )
    with pytest.raises(NonceGapTooLarge) as gap:
        chain.submit(raw(ALICE, LIMITS.max_per_sender, L1Transfer(BOB.address), 1))
    assert str(gap.value) == (
        f"nonce gap too large: {alice} has nonce 0, transaction has {LIMITS.max_per_sender}, "
        f"at most {LIMITS.max_per_sender} ahead are held"
    )
    for sender in (BOB, PROPOSER):
        for nonce in range(LIMITS.max_per_sender):
            chain.submit(raw(sender, nonce, L1Transfer(ALICE.address), 1))
    for nonce in range(1, LIMITS.max_txs - 2 * LIMITS.max_per_sender):
        chain.submit(raw(ALICE, nonce, L1Transfer(BOB.address), 1))
    with pytest.raises(MempoolFull) as full:
        chain.submit(raw(BATCHER, 0, PostBatch(b"x")))
    assert (full.value.rpc_code, str(full.value)) == (-32020, f"mempool full: {LIMITS.max_txs} transactions pending")


def test_block_tx_cap_and_arrival_order(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "db", max_block_txs=3)
    hashes = [
        chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 1)),
        chain.submit(raw(BOB, 0, L1Transfer(ALICE.address), 1)),
        chain.submit(raw(ALICE, 1, L1Transfer(BOB.address), 1)),
        chain.submit(raw(BOB, 1, L1Transfer(ALICE.address), 1)),
    ]
    assert chain.produce_block(T0 + 1).block.tx_hashes() == hashes[:3]
    assert chain.produce_block(T0 + 2).block.tx_hashes() == hashes[3:]
    chain.kv.close()


def test_events_and_outputs_are_readable(chain: L1Chain) -> None:
    chain.submit(raw(BATCHER, 0, PostBatch(b"batch-data")))
    chain.submit(raw(PROPOSER, 0, ProposeOutput(4, keccak256(b"r")), 1000))
    produced = chain.produce_block(T0 + 1)
    assert isinstance(produced.block.events[0], BatchPosted) and produced.block.events[0].data == b"batch-data"
    (output,) = RollupReads(chain.kv).get_outputs(0, 10)
    assert output.l2_block_number == 4 and output.finalizes_at(PARAMS.challenge_window) == 4
    for i in range(2, 5):
        chain.produce_block(T0 + i)
    assert RollupReads(chain.kv).get_outputs(0, 10)[0].status.label == "finalized"
    assert chain.get_balance(PROPOSER.address) == START - FEE


def test_restart_resumes_and_mempool_is_not_persisted(tmp_path: Path) -> None:
    chain = open_chain(tmp_path / "db")
    chain.submit(raw(ALICE, 0, L1Transfer(BOB.address), 5))
    chain.produce_block(T0 + 1)
    chain.submit(raw(ALICE, 1, L1Transfer(BOB.address), 5))  # acknowledged, never in a block
    head = chain.head
    chain.kv.close()

    reopened = open_chain(tmp_path / "db")
    assert reopened.head == head
    assert reopened.get_balance(BOB.address) == START + 5
    assert reopened.get_pending_nonce(ALICE.address) == 1
    assert read_block(reopened.kv, 1, EVENTS) == reopened.get_block(1)
    assert reopened.produce_block(T0 + 2).block.number == 2
    reopened.kv.close()


def test_reopen_with_other_genesis_is_refused(tmp_path: Path) -> None:
    open_chain(tmp_path / "db").kv.close()
    other = L1Chain(KVStore(tmp_path / "db"), PARAMS, GENESIS[:1], ROLLUP, LIMITS, 100)
    with pytest.raises(ChainConfigMismatch):
        other.ensure_genesis(T0)
    other.kv.close()
