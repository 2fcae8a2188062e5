"""Derivation: a sequencer's blocks, posted as batches, re-derive bit-identically from L1 data."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.batch import BatchBlock, encode_batch
from node.block import BlockHeader
from node.chain import Chain, decode_receipt
from node.crypto import PrivateKey, keccak256
from node.derivation import (
    Deriver,
    L1BlockData,
    PlacementError,
    RollupRules,
    plan_next_block,
    seal_planned,
    validate_placement,
)
from node.state.schema import account_key, get_account
from node.stf import ChainConfig
from node.stf.errors import InsufficientBalance, NonceTooLow
from node.stf.execute import recover_transaction
from node.store.chain import ChainStore
from node.tx import DepositTx, Transfer, sign_tx

CHAIN_ID = 901
FEE = 1000
RULES = RollupRules(CHAIN_ID, max_sequencer_drift_ms=5_000, sequencing_window=4)
CONFIG = ChainConfig(CHAIN_ID, fee_recipient=b"\xfe" * 20, min_fee=FEE)
ALICE = PrivateKey(bytes([1]) * 32)
BOB = PrivateKey(bytes([2]) * 32)
CAROL = PrivateKey(bytes([3]) * 32)
ALLOC = {ALICE.address: 10**20, BOB.address: 10**20}


def l1_block(number: int, **kw) -> L1BlockData:  # type: ignore[no-untyped-def]
    return L1BlockData(number, keccak256(b"l1-%d" % number), 1_000_000 + 1000 * number, **kw)


def new_chain(path: Path) -> Chain:
    chain = Chain(ChainStore(path), CONFIG)
    genesis_origin = l1_block(0)
    chain.init_genesis(ALLOC, timestamp_ms=genesis_origin.timestamp_ms, l1_origin=(0, genesis_origin.hash))
    return chain


def new_deriver(path: Path) -> Deriver:
    deriver = Deriver(new_chain(path), RULES)
    deriver.add_l1_block(l1_block(deriver.needed_origins()))  # what the executor prefetches at start
    return deriver


def header(chain: Chain) -> BlockHeader:
    block = chain.store.get_block(chain.head().number)
    assert block is not None
    return block.header


class Sequencer:
    """Drives a chain the way the sequencer process does, one L2 block per 250 ms."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.l1: dict[int, L1BlockData] = {0: l1_block(0)}
        self.now = 1_000_000
        self.nonces: dict[bytes, int] = {}

    def transfer(self, key: PrivateKey, to: bytes, amount: int):  # type: ignore[no-untyped-def]
        nonce = self.nonces.get(key.address, 0)
        self.nonces[key.address] = nonce + 1
        return recover_transaction(sign_tx(key, CHAIN_ID, nonce, FEE, Transfer(to, amount)).encode())

    def seal(self, candidates=()):  # type: ignore[no-untyped-def]
        self.now += 250
        parent = header(self.chain)
        plan = plan_next_block(
            parent, self.l1[parent.l1_origin_number], self.l1.get(parent.l1_origin_number + 1), self.now, RULES
        )
        assert plan is not None
        sealed, _ = seal_planned(self.chain, plan, list(candidates))
        return sealed


def batch_of(chain: Chain, numbers: range) -> bytes:
    blocks = []
    for n in numbers:
        block = chain.store.get_block(n)
        assert block is not None
        skip = chain.system_count(n)
        blocks.append(
            BatchBlock(n, block.header.timestamp_ms, block.header.l1_origin_number, block.transactions[skip:])
        )
    return encode_batch(blocks, CHAIN_ID)


def test_derived_chain_equals_sequencer_chain(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    replica = new_deriver(tmp_path / "replica")
    deposit = DepositTx(1, 0, b"\x11" * 20, CAROL.address, 5 * 10**18)
    forced_raw = sign_tx(BOB, CHAIN_ID, 0, FEE, Transfer(CAROL.address, 7)).encode()
    seq.nonces[BOB.address] = 1
    posted_upto = 0
    for l1_number in range(1, 9):
        # L1 block n carries the batch of every block sealed so far (their origins are earlier L1 blocks)
        extra = {"deposits": (deposit,), "forced_txs": (forced_raw,)} if l1_number == 1 else {}
        head = seq.chain.head().number
        batches = (batch_of(seq.chain, range(posted_upto + 1, head + 1)),) if head > posted_upto else ()
        posted_upto = head
        seq.l1[l1_number] = l1_block(l1_number, **extra)
        replica.process_l1_block(replace(seq.l1[l1_number], batches=batches))
        assert replica.chain.head() == seq.chain.head()
        for _ in range(4):
            seq.seal([seq.transfer(ALICE, BOB.address, 1), seq.transfer(BOB, ALICE.address, 2)])
    carol = get_account(replica.chain.store.latest_state(), CAROL.address)
    assert carol.balance == 5 * 10**18 + 7  # the deposit and the forced transfer
    assert posted_upto > 20
    for n in range(posted_upto + 1):
        assert replica.chain.store.get_block(n) == seq.chain.store.get_block(n)


def test_sequencer_silence_yields_default_blocks_with_deposits_and_forced_txs(tmp_path: Path) -> None:
    replica = new_deriver(tmp_path / "replica")
    forced_raw = sign_tx(ALICE, CHAIN_ID, 0, FEE, Transfer(CAROL.address, 99)).encode()
    deposit = DepositTx(2, 0, b"\x11" * 20, CAROL.address, 1000)
    for n in range(1, 12):
        extra = {"forced_txs": (forced_raw,)} if n == 1 else {"deposits": (deposit,)} if n == 2 else {}
        replica.process_l1_block(l1_block(n, **extra))
        # epoch e gets its default block once L1 reaches e + sequencing_window
        assert replica.chain.head().number == max(0, n - RULES.sequencing_window)
    state = replica.chain.store.latest_state()
    assert get_account(state, CAROL.address).balance == 99 + 1000
    assert get_account(state, ALICE.address).nonce == 1
    value, _ = replica.chain.store.prove(account_key(CAROL.address), replica.chain.head().number)
    assert value is not None


def test_invalid_forced_transactions_are_included_and_skipped(tmp_path: Path) -> None:
    """A block's content is decided by L1 data alone: every forced transaction is in its epoch's first
    block; one that is unfunded or does not even decode is skipped (status 0, no effect)."""
    replica = new_deriver(tmp_path / "replica")
    broke = PrivateKey(bytes([9]) * 32)
    bad = sign_tx(broke, CHAIN_ID, 0, FEE, Transfer(CAROL.address, 1)).encode()  # no funds
    replica.process_l1_block(l1_block(1, forced_txs=(bad, b"\x00garbage")))
    for n in range(2, 2 + RULES.sequencing_window):
        replica.process_l1_block(l1_block(n))
    block = replica.chain.store.get_block(1)
    assert block is not None and block.transactions == (bad, b"\x00garbage")
    receipts = [decode_receipt(r) for r in replica.chain.store.get_receipts(1)]
    assert [(r.status, r.fee, r.kind) for r in receipts] == [(0, 0, "transfer"), (0, 0, "invalid")]
    assert receipts[0].error == InsufficientBalance.rpc_code and receipts[1].error is not None
    state = replica.chain.store.latest_state()
    assert get_account(state, CAROL.address).balance == 0 and get_account(state, broke.address).nonce == 0


def test_invalid_user_transaction_in_a_batch_is_skipped_not_the_block(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    replica = new_deriver(tmp_path / "replica")
    seq.l1[1] = l1_block(1)
    seq.seal([seq.transfer(ALICE, BOB.address, 1)])
    block = seq.chain.store.get_block(1)
    assert block is not None
    replayed = block.transactions[0]  # nonce 0 again: invalid at its point
    batch = encode_batch(
        [
            BatchBlock(1, block.header.timestamp_ms, block.header.l1_origin_number, block.transactions),
            BatchBlock(2, block.header.timestamp_ms + 1, block.header.l1_origin_number, (replayed,)),
        ],
        CHAIN_ID,
    )
    replica.process_l1_block(seq.l1[1])
    result = replica.process_l1_block(l1_block(2, batches=(batch,)))
    assert result.dropped == [] and [s.head.number for s in result.derived] == [1, 2]
    receipts = [decode_receipt(r) for r in replica.chain.store.get_receipts(2)]
    assert [(r.status, r.error) for r in receipts] == [(0, NonceTooLow.rpc_code)]
    assert replica.chain.head().state_root == replica.chain.store.get_block(1).header.state_root  # type: ignore[union-attr]


def test_a_batch_cannot_name_the_l1_block_it_is_posted_in_as_origin(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    replica = new_deriver(tmp_path / "replica")
    seq.l1[1] = l1_block(1)
    seq.now = seq.l1[1].timestamp_ms
    seq.seal([seq.transfer(ALICE, BOB.address, 1)])
    assert seq.chain.store.get_block(1).header.l1_origin_number == 1  # type: ignore[union-attr]
    result = replica.process_l1_block(replace(seq.l1[1], batches=(batch_of(seq.chain, range(1, 2)),)))
    assert result.derived == [] and "not an earlier block" in result.dropped[0]


def test_invalid_and_late_batches_are_dropped(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    replica = new_deriver(tmp_path / "replica")
    seq.l1[1] = l1_block(1)
    for _ in range(3):
        seq.seal([seq.transfer(ALICE, BOB.address, 1)])
    good = batch_of(seq.chain, range(1, 4))
    replica.process_l1_block(seq.l1[1])
    result = replica.process_l1_block(l1_block(2, batches=(b"\x93garbage", good[:-5], good)))
    assert len(result.dropped) == 2 and len(result.derived) == 3
    assert replica.chain.head() == seq.chain.head()
    # the same blocks posted again are skipped, not re-applied
    result = replica.process_l1_block(l1_block(3, batches=(good,)))
    assert result.derived == [] and result.dropped == []


def test_batch_posted_after_the_window_is_dropped(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    seq.l1[1] = l1_block(1)
    seq.seal([seq.transfer(ALICE, BOB.address, 1)])  # origin 1 (advanced at once)
    replica = new_deriver(tmp_path / "replica")
    late = 1 + RULES.sequencing_window + 1
    for n in range(1, late):
        replica.process_l1_block(l1_block(n))
    # by now epoch 1's window expired: block 1 is a default block, and the late batch is ignored
    replica.process_l1_block(l1_block(late, batches=(batch_of(seq.chain, range(1, 2)),)))
    derived_1 = replica.chain.store.get_block(1)
    assert derived_1 is not None and derived_1.transactions == ()
    assert derived_1.hash() != seq.chain.store.get_block(1).hash()  # type: ignore[union-attr]


def test_placement_rules() -> None:
    parent = BlockHeader(5, b"\x00" * 32, 2_000_000, 3, b"\x00" * 32, b"\x00" * 32, b"\x00" * 32)
    origin3 = L1BlockData(3, b"\x01" * 32, 1_999_000)
    origin4 = L1BlockData(4, b"\x02" * 32, 2_000_500)
    assert validate_placement(parent, origin3, 2_000_001, RULES) is False
    assert validate_placement(parent, origin4, 2_000_600, RULES) is True
    with pytest.raises(PlacementError):
        validate_placement(parent, L1BlockData(5, b"\x03" * 32, 2_000_000), 2_000_700, RULES)  # skips an L1 block
    with pytest.raises(PlacementError):
        validate_placement(parent, origin3, 2_000_000, RULES)  # not after the parent
    with pytest.raises(PlacementError):
        validate_placement(parent, origin4, 2_000_400, RULES)  # before its origin
    with pytest.raises(PlacementError):
        validate_placement(parent, origin3, 1_999_000 + RULES.max_sequencer_drift_ms + 1, RULES)  # drift
    with pytest.raises(PlacementError):
        validate_placement(parent, origin4, 2_000_600, RULES, posted_in=4 + RULES.sequencing_window + 1)
    # the sequencer never plans a block the rules reject: at the drift limit it waits
    at_limit = replace(parent, timestamp_ms=1_999_000 + RULES.max_sequencer_drift_ms)
    assert plan_next_block(at_limit, origin3, None, at_limit.timestamp_ms + 60_000, RULES) is None
    plan = plan_next_block(parent, origin3, origin4, 2_000_600, RULES)
    assert plan is not None and plan.origin == origin4 and plan.first_in_epoch
    plan = plan_next_block(parent, origin3, None, 1_999_000 + RULES.max_sequencer_drift_ms + 500, RULES)
    assert plan is not None and plan.timestamp_ms == 1_999_000 + RULES.max_sequencer_drift_ms
    # the origin lags the wall clock (a slow block under load): advancing it must not drift past it either
    late = 2_000_500 + RULES.max_sequencer_drift_ms + 30_000
    plan = plan_next_block(parent, origin3, origin4, late, RULES)
    assert plan is not None and plan.origin == origin4 and plan.timestamp_ms == 2_000_500 + RULES.max_sequencer_drift_ms
    assert validate_placement(parent, plan.origin, plan.timestamp_ms, RULES) is True


@settings(max_examples=300, deadline=None)
@given(
    origin_ts=st.integers(0, 10**7),
    parent_offset=st.integers(0, 5_000),
    gap=st.none() | st.integers(1, 60_000),
    now=st.integers(0, 2 * 10**7),
)
def test_the_sequencer_only_plans_blocks_derivation_accepts(
    origin_ts: int, parent_offset: int, gap: int | None, now: int
) -> None:
    """Whatever the wall clock and however far the origin lags it, a planned block passes the placement rules."""
    current = L1BlockData(3, b"\x01" * 32, origin_ts)
    following = None if gap is None else L1BlockData(4, b"\x02" * 32, origin_ts + gap)
    parent = BlockHeader(9, b"\x00" * 32, origin_ts + parent_offset, 3, b"\x00" * 32, b"\x00" * 32, b"\x00" * 32)
    plan = plan_next_block(parent, current, following, now, RULES)
    if plan is not None:
        validate_placement(parent, plan.origin, plan.timestamp_ms, RULES)
    elif following is not None:
        assert following.timestamp_ms > max(now, parent.timestamp_ms + 1)  # only waits for L1 to be due


def test_unsafe_blocks_equal_to_l1_are_promoted_without_reexecution(tmp_path: Path) -> None:
    seq = Sequencer(new_chain(tmp_path / "seq"))
    replica = new_deriver(tmp_path / "replica")
    seq.l1[1] = l1_block(1)
    for _ in range(4):
        seq.seal([seq.transfer(ALICE, BOB.address, 3)])
    for n in range(1, 5):  # what gossip delivers before L1 has the batch
        block = seq.chain.store.get_block(n)
        assert block is not None
        replica.chain.import_block(block, [recover_transaction(raw) for raw in block.transactions])
    assert replica.safe.safe_head().number == 0 and replica.chain.head() == seq.chain.head()
    replica.process_l1_block(seq.l1[1])
    recovered = []
    real_append = replica.safe.append_derived

    def counting_append(*args, **kwargs):  # type: ignore[no-untyped-def]
        def recover(raws):  # type: ignore[no-untyped-def]
            recovered.extend(raws)
            return [recover_transaction(r) for r in raws]

        return real_append(*args, recover=recover, **kwargs)

    replica.safe.append_derived = counting_append  # type: ignore[method-assign]
    result = replica.process_l1_block(l1_block(2, batches=(batch_of(seq.chain, range(1, 5)),)))
    assert result.promoted == 4 and result.reorgs == []
    assert replica.safe.safe_head() == seq.chain.head()
    assert recovered == []  # promoted from the raw bytes: no sender recovered again


def test_l1_wins_over_a_different_unsafe_block(tmp_path: Path) -> None:
    honest = Sequencer(new_chain(tmp_path / "honest"))
    gossiped = Sequencer(new_chain(tmp_path / "gossiped"))  # what a faulty sequencer gossiped instead
    replica = new_deriver(tmp_path / "replica")
    for seq in (honest, gossiped):
        seq.l1[1] = l1_block(1)
    honest.seal([honest.transfer(ALICE, BOB.address, 5)])
    honest.seal([honest.transfer(ALICE, BOB.address, 6)])
    for _ in range(3):
        gossiped.seal([gossiped.transfer(BOB, ALICE.address, 1)])
    for n in range(1, 4):
        block = gossiped.chain.store.get_block(n)
        assert block is not None
        replica.chain.import_block(block, [recover_transaction(raw) for raw in block.transactions])
    replica.process_l1_block(honest.l1[1])
    result = replica.process_l1_block(l1_block(2, batches=(batch_of(honest.chain, range(1, 3)),)))
    assert result.reorgs == [(1, 3)]
    assert replica.chain.head() == honest.chain.head() == replica.safe.safe_head()
    assert get_account(replica.chain.store.latest_state(), BOB.address).balance == 10**20 + 11
