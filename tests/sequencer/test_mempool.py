"""Mempool: admission rules with their error codes, and fee-priority selection that keeps nonce order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crypto import Address, Hash32, PrivateKey, keccak256
from node.mempool import DropReason, NoncePool, PoolRules
from node.state.schema import Account
from node.stf.errors import InsufficientBalance, NonceTooLow
from node.stf.execute import recover_transaction
from node.tx import RecoveredTx, SignedTx, Transfer, sign_tx
from sequencer.mempool import (
    AlreadyKnown,
    Mempool,
    MempoolFull,
    MempoolLimits,
    NonceGapTooLarge,
    Overdraft,
    ReplacementUnderpriced,
    SenderQueueFull,
    TransactionTooLarge,
)

CHAIN_ID = 901
SENDERS = [Address(bytes([i + 1]) * 20) for i in range(6)]
TO = Address(b"\xee" * 20)


def fake_tx(sender: bytes, nonce: int, fee: int, tag: int = 0) -> RecoveredTx:
    """A transaction with a given sender, without paying for signing and recovery."""
    tx = SignedTx(CHAIN_ID, nonce, fee, Transfer(TO, 1 + tag), b"\x00" * 65)
    raw = tx.encode()
    return RecoveredTx(tx, Hash32(keccak256(raw + sender)), Address(sender), raw)


def nonces_of(state: dict[bytes, int]):  # type: ignore[no-untyped-def]
    return lambda sender: state.get(sender, 0)


RICH = 10**30


def acct(nonce: int = 0, balance: int = RICH) -> Account:
    return Account(balance, nonce)


A, B, C = SENDERS[:3]
ZERO = nonces_of({})


# -- admission vectors --


def test_real_signed_transaction_is_admitted_and_taken() -> None:
    key = PrivateKey(bytes([7]) * 32)
    rtx = recover_transaction(sign_tx(key, CHAIN_ID, 0, 10, Transfer(TO, 5)).encode())
    pool = Mempool()
    pool.add(rtx, acct(0))
    assert pool.take(10, ZERO) == [rtx]
    assert rtx.hash in pool


def test_duplicate_is_already_known() -> None:
    pool = Mempool()
    tx = fake_tx(A, 0, 10)
    pool.add(tx, acct(0))
    with pytest.raises(AlreadyKnown) as info:
        pool.add(tx, acct(0))
    assert info.value.rpc_code == -32023


def test_replacement_needs_a_ten_percent_fee_bump() -> None:
    pool = Mempool()
    pool.add(fake_tx(A, 0, 100), acct(0))
    for offered in (100, 109):
        with pytest.raises(ReplacementUnderpriced) as info:
            pool.add(fake_tx(A, 0, offered, tag=offered), acct(0))
        assert info.value.rpc_code == -32022
        assert "replacement fee too low: have 100, need >= 110" in str(info.value)
    better = fake_tx(A, 0, 110, tag=2)
    admission = pool.add(better, acct(0))
    assert admission.replaced is not None and admission.replaced.tx.fee == 100  # type: ignore[union-attr]
    assert pool.take(5, ZERO) == [better]
    assert len(pool) == 1


def test_nonce_below_state_is_too_low() -> None:
    with pytest.raises(NonceTooLow) as info:
        Mempool().add(fake_tx(A, 2, 10), acct(3))
    assert info.value.rpc_code == -32012


def test_nonce_gap_is_bounded() -> None:
    pool = Mempool(MempoolLimits(max_nonce_gap=4))
    pool.add(fake_tx(A, 4, 10), acct(0))  # exactly max_nonce_gap ahead: held back
    with pytest.raises(NonceGapTooLarge) as info:
        pool.add(fake_tx(A, 5, 10), acct(0))
    assert info.value.rpc_code == -32024
    assert pool.take(10, ZERO) == []
    assert pool.status().queued == 1


def test_sender_cap() -> None:
    pool = Mempool(MempoolLimits(max_pending_per_sender=2))
    pool.add(fake_tx(A, 0, 10), acct(0))
    pool.add(fake_tx(A, 1, 10), acct(0))
    with pytest.raises(SenderQueueFull) as info:
        pool.add(fake_tx(A, 2, 10), acct(0))
    assert info.value.rpc_code == -32021
    pool.add(fake_tx(A, 1, 20), acct(0))  # a replacement does not count against the cap


def test_full_pool_evicts_the_cheapest_tail_only_for_a_better_fee() -> None:
    pool = Mempool(MempoolLimits(max_txs=3))
    pool.add(fake_tx(A, 0, 5), acct(0))
    pool.add(fake_tx(A, 1, 50), acct(0))  # A's tail: evictable at fee 50
    cheap_tail = fake_tx(B, 0, 20)
    pool.add(cheap_tail, acct(0))
    with pytest.raises(MempoolFull) as info:
        pool.add(fake_tx(C, 0, 20), acct(0))
    assert info.value.rpc_code == -32020
    admission = pool.add(fake_tx(C, 0, 21), acct(0))
    assert admission.evicted == cheap_tail
    assert len(pool) == 3
    # A's nonce 0 (fee 5) is never evicted ahead of its tail: no gap opens
    assert [t.tx.nonce for t in pool.take(10, ZERO) if t.sender == A] == [0, 1]  # type: ignore[union-attr]


def test_a_full_pool_admits_a_higher_priority_transaction_at_any_fee() -> None:
    """The venue's case: a pool saturated with orders still takes the oracle update (priority 0)."""
    oracle = SENDERS[5]
    pool = Mempool(MempoolLimits(max_txs=3), priority=lambda rtx: 0 if rtx.sender == oracle else 1)
    orders = [fake_tx(A, 0, 30), fake_tx(B, 0, 10), fake_tx(C, 0, 20)]
    for rtx in orders:
        pool.add(rtx, acct(0))
    with pytest.raises(MempoolFull):
        pool.add(fake_tx(SENDERS[3], 0, 10), acct(0))  # an ordinary one needs a better fee than the cheapest
    update = fake_tx(oracle, 0, 1)
    assert pool.add(update, acct(0)).evicted == orders[1]  # the lowest fee of the lowest priority goes
    assert pool.take(10, ZERO)[0] == update
    # an oracle update never evicts another one: only lower priorities make room
    full_of_updates = Mempool(MempoolLimits(max_txs=1), priority=lambda rtx: 0)
    full_of_updates.add(fake_tx(A, 0, 5), acct(0))
    with pytest.raises(MempoolFull):
        full_of_updates.add(fake_tx(B, 0, 5), acct(0))


def test_too_large() -> None:
    pool = Mempool(MempoolLimits(max_tx_bytes=50))
    with pytest.raises(TransactionTooLarge) as info:
        pool.add(fake_tx(A, 0, 10), acct(0))
    assert info.value.rpc_code == -32025


# -- selection vectors --


def test_take_orders_by_fee_but_keeps_nonce_order() -> None:
    pool = Mempool()
    a0, a1 = fake_tx(A, 0, 1), fake_tx(A, 1, 100)
    b0 = fake_tx(B, 0, 50)
    for tx in (a1, a0, b0):
        pool.add(tx, acct(0))
    assert pool.take(10, ZERO) == [b0, a0, a1]
    assert pool.take(2, ZERO) == [b0, a0]


def test_gap_holds_back_until_filled_and_state_nonce_moves() -> None:
    pool = Mempool()
    a2 = fake_tx(A, 2, 10)
    pool.add(a2, acct(0))
    assert pool.take(10, ZERO) == []
    assert pool.take(10, nonces_of({A: 2})) == [a2]


def test_exclude_hook_skips_censored_senders() -> None:
    pool = Mempool()
    a0, b0 = fake_tx(A, 0, 10), fake_tx(B, 0, 10)
    pool.add(a0, acct(0))
    pool.add(b0, acct(0))
    assert pool.take(10, ZERO, exclude=lambda s: s == A) == [b0]


def test_after_a_block_included_and_stale_are_removed() -> None:
    pool = Mempool()
    a0, a1, b0 = fake_tx(A, 0, 10), fake_tx(A, 1, 10), fake_tx(B, 0, 10)
    for tx in (a0, a1, b0):
        pool.add(tx, acct(0))
    assert pool.remove_included([a0]) == 1
    dropped = pool.drop_stale(nonces_of({A: 1, B: 1}))  # b0 went in some other way (e.g. forced)
    assert dropped == [b0]
    assert pool.take(10, nonces_of({A: 1, B: 1})) == [a1]
    status = pool.status()
    assert (status.pending, status.queued, status.capacity, status.queued_capacity) == (1, 0, 10_000, 2_500)


def test_the_tail_heaps_rebuild_skips_a_sender_a_removal_just_emptied() -> None:
    """Regression (a sequencer crash at 5,000 tx/s, scripts/bench_anvil.py): `remove_hashes` detaches a
    block's transactions from every sender first, then refreshes each; refreshing one that still has
    transactions may rebuild the eviction heaps over every sender, so it met senders emptied a moment
    before and not yet forgotten: KeyError -1 in tail(), which killed the block loop. The rebuild is
    driven here at exactly that moment."""
    pool = Mempool()
    x0, y0, y1 = fake_tx(A, 0, 10), fake_tx(B, 0, 10), fake_tx(B, 1, 10)
    for tx in (x0, y0, y1):
        pool.add(tx, acct(0))
    pool._detach(pool._senders[A], pool._by_hash[x0.hash])  # A is empty, its refresh still to come
    pool._rebuild_tail_heaps()  # what refreshing B may do at that point
    pool._refresh(A, pool._senders[A])
    assert pool.remove_included([y0]) == 1
    status = pool.status()
    assert status.pending + status.queued == 1


# -- the core both chains run --


def test_the_core_alone_takes_by_arrival_with_a_strict_fee_bump() -> None:
    """NoncePool without the sequencer's rules (the L1's pool): arrival order, no payability, the same refusals."""
    core: NoncePool[RecoveredTx] = NoncePool(PoolRules(max_txs=3, max_per_sender=2, max_nonce_gap=1))
    a0, b0, a1 = fake_tx(A, 0, 1), fake_tx(B, 0, 50), fake_tx(A, 1, 100)
    for tx in (a0, b0, a1):
        core.add(tx, acct(0, balance=0))  # the core keeps no balances
    assert core.take(10, ZERO) == [a0, b0, a1]
    with pytest.raises(ReplacementUnderpriced) as info:
        core.add(fake_tx(B, 0, 50, tag=1), acct(0))
    assert "have 50, need >= 51 (a 0% bump)" in str(info.value)
    assert core.add(fake_tx(B, 0, 51, tag=1), acct(0)).replaced == b0
    with pytest.raises(NonceGapTooLarge):
        core.add(fake_tx(C, 2, 10), acct(0))
    with pytest.raises(MempoolFull):
        core.add(fake_tx(C, 0, 10**6), acct(0))  # no eviction in the core
    assert [(d.rtx, d.reason) for d in core.take_drops()] == [(b0, DropReason.REPLACED)]
    assert isinstance(Mempool(), NoncePool)


# -- properties --

ops = st.lists(
    st.tuples(st.sampled_from(SENDERS), st.integers(0, 12), st.integers(1, 30)),
    min_size=1,
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(
    ops=ops,
    base=st.lists(st.integers(0, 4), min_size=len(SENDERS), max_size=len(SENDERS)),
    max_txs=st.integers(1, 40),
    per_sender=st.integers(1, 8),
    gap=st.integers(0, 10),
    take=st.integers(0, 50),
)
def test_selection_never_reorders_or_skips_nonces_and_respects_caps(
    ops,
    base,
    max_txs,
    per_sender,
    gap,
    take,  # type: ignore[no-untyped-def]
) -> None:
    state = dict(zip(SENDERS, base))
    nonce_of = nonces_of(state)
    pool = Mempool(
        MempoolLimits(
            max_txs=max_txs, max_pending_per_sender=per_sender, max_queued_per_sender=per_sender, max_nonce_gap=gap
        )
    )
    for i, (sender, nonce, fee) in enumerate(ops):
        try:
            pool.add(fake_tx(sender, nonce, fee, tag=i), acct(nonce_of(sender)))
        except (
            NonceTooLow,
            AlreadyKnown,
            ReplacementUnderpriced,
            SenderQueueFull,
            MempoolFull,
            NonceGapTooLarge,
            Overdraft,
            InsufficientBalance,
        ):
            pass
        assert len(pool) <= max_txs
    pooled = [pool.get(h) for h in pool._by_hash]  # noqa: SLF001 - property check on internals
    for sender in SENDERS:
        mine = [t for t in pooled if t is not None and t.sender == sender]
        assert len(mine) <= 2 * per_sender
        assert all(0 <= t.tx.nonce - nonce_of(sender) <= gap for t in mine)  # type: ignore[union-attr]

    chosen = pool.take(take, nonce_of)
    assert len(chosen) <= take
    expected_next = dict(state)
    for tx in chosen:
        assert tx.tx.nonce == expected_next.get(tx.sender, 0)  # type: ignore[union-attr]
        expected_next[tx.sender] = tx.tx.nonce + 1  # type: ignore[union-attr]
    if len(chosen) < take:  # everything executable was taken
        assert pool.status().pending == len(chosen)


@settings(max_examples=100, deadline=None)
@given(fees=st.lists(st.tuples(st.sampled_from(SENDERS[:3]), st.integers(1, 100)), min_size=1, max_size=30))
def test_first_pick_is_the_best_executable_fee(fees) -> None:  # type: ignore[no-untyped-def]
    pool = Mempool()
    next_nonce: dict[bytes, int] = {}
    for i, (sender, fee) in enumerate(fees):
        nonce = next_nonce.get(sender, 0)
        next_nonce[sender] = nonce + 1
        pool.add(fake_tx(sender, nonce, fee, tag=i), acct(0))
    heads = [t for t in (pool.take(1, lambda s: 0, exclude=lambda s, x=x: s != x) for x in SENDERS[:3]) if t]
    best = max(h[0].tx.fee for h in heads)  # type: ignore[union-attr]
    assert pool.take(1, ZERO)[0].tx.fee == best  # type: ignore[union-attr]
