"""Mempool admission soundness (issue 10): payable queued transactions, per-sender and pool caps,
queued-first eviction, expiry, the 10 % replacement bump, upkeep when the head moves, and
hypothesis properties over random operation sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.crypto import Address, Hash32, keccak256
from node.state.schema import Account
from node.stf.errors import InsufficientBalance, NonceTooLow
from node.tx import RecoveredTx, SignedTx, Transfer
from sequencer.mempool import (
    AlreadyKnown,
    DropReason,
    Mempool,
    MempoolFull,
    MempoolLimits,
    NonceGapTooLarge,
    Overdraft,
    ReplacementUnderpriced,
    SenderQueueFull,
)

CHAIN_ID = 901
TO = Address(b"\xee" * 20)
FEE = 1000
ORACLE = Address(b"\x0a" * 20)


def addr(i: int) -> Address:
    return Address(i.to_bytes(20, "big"))


def tx(sender: bytes, nonce: int, fee: int = FEE, amount: int = 1, tag: int = 0) -> RecoveredTx:
    signed = SignedTx(CHAIN_ID, nonce, fee, Transfer(TO, amount), tag.to_bytes(65, "big"))
    raw = signed.encode()
    return RecoveredTx(signed, Hash32(keccak256(raw + sender)), Address(sender), raw)


def rich(nonce: int = 0) -> Account:
    return Account(10**30, nonce)


def oracle_first(rtx: RecoveredTx) -> int:
    return 0 if rtx.sender == ORACLE else 2


A, B, C, D = addr(1), addr(2), addr(3), addr(4)


# -- payability ---------------------------------------------------------------------------


def test_an_unfunded_sender_cannot_queue_anything() -> None:
    pool = Mempool()
    for nonce in (0, 1, 5):
        with pytest.raises(InsufficientBalance) as info:
            pool.add(tx(A, nonce), Account(0, 0))
        assert info.value.rpc_code == -32014
    assert len(pool) == 0


def test_a_sender_queues_only_what_its_balance_pays_for() -> None:
    """fee x count within the balance: three transactions of cost 1001 fit in 3003, a fourth does not."""
    pool = Mempool()
    account = Account(3 * (FEE + 1), 0)
    for nonce in (1, 2, 3):  # all queued (nonce 0 missing)
        pool.add(tx(A, nonce), account)
    with pytest.raises(Overdraft) as info:
        pool.add(tx(A, 4), account)
    assert info.value.rpc_code == -32026
    assert "3 pooled transaction(s) cost 3003" in str(info.value)
    with pytest.raises(Overdraft):
        pool.add(tx(A, 0), account)  # pending or queued: the same total counts
    assert pool.status().queued == 3


def test_the_kinds_cost_counts_not_only_the_fee() -> None:
    pool = Mempool()
    account = Account(10_000, 0)
    pool.add(tx(A, 0, amount=5_000), account)
    with pytest.raises(Overdraft):
        pool.add(tx(A, 1, amount=4_000), account)  # 6000 + 5000 > 10000
    pool.add(tx(A, 1, amount=3_000), account)  # 6000 + 4000 = 10000


def test_a_replacement_may_not_overdraw_either() -> None:
    pool = Mempool()
    account = Account(2 * FEE + 150, 0)
    pool.add(tx(A, 0), account)
    pool.add(tx(A, 1), account)
    with pytest.raises(Overdraft):
        pool.add(tx(A, 1, fee=FEE + 200, tag=1), account)  # bumped, but 2200 + 2 > 2150
    pool.add(tx(A, 1, fee=FEE + 100, tag=2, amount=1), account)  # 2102 <= 2150


# -- replacement --------------------------------------------------------------------------


@pytest.mark.parametrize(("bump", "old", "need"), [(10, 1000, 1100), (10, 1001, 1102), (0, 1000, 1001), (100, 7, 14)])
def test_replacement_fee_bump(bump: int, old: int, need: int) -> None:
    pool = Mempool(MempoolLimits(price_bump_percent=bump))
    original = tx(A, 0, fee=old)
    pool.add(original, rich())
    with pytest.raises(ReplacementUnderpriced) as info:
        pool.add(tx(A, 0, fee=need - 1, tag=1), rich())
    assert info.value.need == need
    replacement = tx(A, 0, fee=need, tag=2)
    assert pool.add(replacement, rich()).replaced == original
    [drop] = pool.take_drops()
    assert drop.rtx == original and drop.reason is DropReason.REPLACED and replacement.hash.hex() in drop.detail


# -- per-sender caps ----------------------------------------------------------------------


def test_per_sender_queued_and_pending_caps() -> None:
    pool = Mempool(MempoolLimits(max_pending_per_sender=3, max_queued_per_sender=2))
    for nonce in (10, 11):
        pool.add(tx(A, nonce), rich())
    with pytest.raises(SenderQueueFull) as info:
        pool.add(tx(A, 12), rich())
    assert info.value.rpc_code == -32021 and "queued" in str(info.value)
    for nonce in (0, 1, 2):
        pool.add(tx(A, nonce), rich())
    with pytest.raises(SenderQueueFull) as info:
        pool.add(tx(A, 3), rich())
    assert "pending" in str(info.value)
    pool.add(tx(A, 11, fee=2 * FEE, tag=1), rich())  # replacing is not adding
    assert pool.status().pending == 3 and pool.status().queued == 2


def test_a_sender_with_a_zero_queued_cap_cannot_queue() -> None:
    pool = Mempool(MempoolLimits(max_queued_per_sender=0))
    with pytest.raises(SenderQueueFull):
        pool.add(tx(A, 1), rich())
    pool.add(tx(A, 0), rich())


def test_nonce_rules_still_hold() -> None:
    pool = Mempool(MempoolLimits(max_nonce_gap=3))
    with pytest.raises(NonceTooLow):
        pool.add(tx(A, 4), rich(5))
    with pytest.raises(NonceGapTooLarge):
        pool.add(tx(A, 9), rich(5))
    pool.add(tx(A, 8), rich(5))
    with pytest.raises(AlreadyKnown):
        pool.add(tx(A, 8), rich(5))


# -- the pool's caps and eviction -----------------------------------------------------------


def test_queued_transactions_hold_at_most_their_share_and_never_evict_pending_ones() -> None:
    pool = Mempool(MempoolLimits(max_txs=8, max_queued=2))
    pool.add(tx(A, 1, fee=2000), rich())
    pool.add(tx(B, 1, fee=3000), rich())
    with pytest.raises(MempoolFull) as info:
        pool.add(tx(C, 1, fee=2000), rich())  # does not outbid the cheapest queued one
    assert info.value.rpc_code == -32020 and "queued" in str(info.value)
    assert pool.add(tx(C, 1, fee=2001), rich()).evicted == tx(A, 1, fee=2000)
    # a pool full of pending transactions takes no queued one, whatever it pays
    full = Mempool(MempoolLimits(max_txs=3, max_queued=1))
    for sender in (A, B, C):
        full.add(tx(sender, 0), rich())
    with pytest.raises(MempoolFull):
        full.add(tx(D, 1, fee=10**18), rich())
    assert full.status().pending == 3


def test_a_full_pool_evicts_queued_before_pending_then_by_rank() -> None:
    pool = Mempool(MempoolLimits(max_txs=4, max_queued=2))
    pool.add(tx(A, 0, fee=1000), rich())
    pool.add(tx(B, 0, fee=1500), rich())
    junk = [tx(C, 5, fee=10**9), tx(D, 5, fee=10**6)]
    for rtx in junk:
        pool.add(rtx, rich())
    # a pending newcomer outranks any queued transaction of its priority, even a better-paying one
    newcomer = tx(addr(9), 0, fee=1000)
    assert pool.add(newcomer, rich()).evicted == junk[1]
    assert pool.add(tx(addr(10), 0, fee=1000), rich()).evicted == junk[0]
    # no queued left: pending ones go by fee, strictly
    with pytest.raises(MempoolFull) as info:
        pool.add(tx(addr(11), 0, fee=1000), rich())
    assert info.value.cheapest == 1000
    assert pool.add(tx(addr(11), 0, fee=1001), rich()).evicted == tx(
        addr(10), 0, fee=1000
    )  # the latest of the cheapest
    assert len(pool) == 4 and pool.status().queued == 0
    assert {d.reason for d in pool.take_drops()} == {DropReason.EVICTED}


def test_eviction_takes_a_tail_so_no_gap_opens() -> None:
    pool = Mempool(MempoolLimits(max_txs=3))
    pool.add(tx(A, 0, fee=1000), rich())
    pool.add(tx(A, 1, fee=5000), rich())
    pool.add(tx(B, 0, fee=3000), rich())
    # A's nonce 0 pays least, but only A's tail (nonce 1, 5000) is evictable: B's 3000 goes
    assert pool.add(tx(C, 0, fee=3001), rich()).evicted == tx(B, 0, fee=3000)
    assert [t.tx.nonce for t in pool.take(5, lambda s: 0) if t.sender == A] == [0, 1]  # type: ignore[union-attr]


def test_the_priority_lane_survives_a_pool_full_of_queued_and_pending_junk() -> None:
    pool = Mempool(MempoolLimits(max_txs=4, max_queued=1), priority=oracle_first)
    pool.add(tx(A, 0, fee=10**9), rich())
    pool.add(tx(B, 0, fee=10**9), rich())
    pool.add(tx(C, 0, fee=10**9), rich())
    pool.add(tx(D, 7, fee=10**9), rich())
    update = tx(ORACLE, 0, fee=FEE)
    assert pool.add(update, rich()).evicted == tx(D, 7, fee=10**9)
    queued_update = tx(ORACLE, 3, fee=FEE)
    with pytest.raises(MempoolFull):  # queued: only a queued transaction could make room, and none is left
        pool.add(queued_update, rich())
    assert pool.take(1, lambda s: 0) == [update]


def test_a_funded_honest_sender_gets_in_while_the_pool_is_full_of_junk() -> None:
    """The issue's attack, scaled down: junk from many funded keys, queued at high fees and pending at the minimum."""
    limits = MempoolLimits(max_txs=200, max_queued=50, max_queued_per_sender=4)
    pool = Mempool(limits)
    refused = 0
    for i in range(100):  # queued junk: at most 50 in the pool
        for nonce in range(1, 6):
            try:
                pool.add(tx(addr(1000 + i), nonce, fee=10**12), rich())
            except (MempoolFull, SenderQueueFull):
                refused += 1
    assert pool.status().queued == 50 and refused == 450
    for i in range(200):  # pending junk at the minimum fee fills the rest, then evicts the queued junk
        try:
            pool.add(tx(addr(5000 + i), 0), rich())
        except MempoolFull:
            refused += 1
    assert len(pool) == 200 and pool.status().queued == 0
    honest = tx(addr(77), 0, fee=FEE + 1)
    assert pool.add(honest, Account(10 * FEE, 0)).evicted is not None
    assert honest in pool.take(200, lambda s: 0)


# -- upkeep -----------------------------------------------------------------------------------


def test_queued_transactions_expire_pending_ones_do_not() -> None:
    pool = Mempool(MempoolLimits(queued_lifetime_ms=60_000))
    pool.add(tx(A, 0), rich(), now_ms=0)
    pool.add(tx(A, 2), rich(), now_ms=0)
    pool.add(tx(B, 3), rich(), now_ms=30_000)
    assert pool.expire(59_999) == 0
    assert pool.expire(60_000) == 1
    assert tx(A, 2).hash not in pool and tx(A, 0).hash in pool and tx(B, 3).hash in pool
    assert pool.expire(90_000) == 1 and len(pool) == 1
    assert [d.reason for d in pool.take_drops()] == [DropReason.EXPIRED, DropReason.EXPIRED]


def test_a_sender_whose_balance_fell_loses_its_unpayable_tail() -> None:
    pool = Mempool()
    start = Account(10 * (FEE + 1), 0)
    for nonce in (0, 1, 2, 3, 5, 6):
        pool.add(tx(A, nonce), start)
    pool.add(tx(B, 0), start)
    pool.sync_accounts({A: Account(3 * (FEE + 1) + 5, 0), C: Account(1, 0)})
    assert sorted(e.nonce for e in pool.entries() if e.rtx.sender == A) == [0, 1, 2]
    drops = pool.take_drops()
    assert sorted(d.rtx.tx.nonce for d in drops) == [3, 5, 6]  # type: ignore[union-attr]
    assert all(d.reason is DropReason.UNPAYABLE for d in drops)
    assert pool.status().pending == 4 and pool.status().queued == 0


def test_a_moved_nonce_makes_used_ones_stale_and_queued_ones_pending() -> None:
    pool = Mempool()
    for nonce in (0, 1, 3, 4):
        pool.add(tx(A, nonce), rich())
    assert pool.status().queued == 2
    pool.sync_accounts({A: rich(3)})  # 0..2 went in some other way (forced through L1)
    assert [d.reason for d in pool.take_drops()] == [DropReason.STALE, DropReason.STALE]
    assert pool.status().pending == 2 and pool.status().queued == 0
    assert pool.is_pending(tx(A, 3).hash) is True


def test_add_resyncs_the_sender_with_its_fresh_account() -> None:
    pool = Mempool()
    pool.add(tx(A, 0), Account(10 * FEE, 0))
    pool.add(tx(A, 1), Account(10 * FEE, 0))
    with pytest.raises(Overdraft):  # the balance fell: the two pooled ones are still payable, three are not
        pool.add(tx(A, 2), Account(2 * FEE + 5, 0))
    assert pool.take_drops() == []
    with pytest.raises(Overdraft):  # nonce 0 went in: it is stale; nonce 1 alone uses the whole balance
        pool.add(tx(A, 2), Account(FEE + 1, 1))
    assert [(d.rtx.tx.nonce, d.reason) for d in pool.take_drops()] == [(0, DropReason.STALE)]  # type: ignore[union-attr]
    assert pool.is_pending(tx(A, 1).hash) is True
    with pytest.raises(InsufficientBalance):  # poorer still: nonce 1 is unpayable, and so is the newcomer
        pool.add(tx(A, 2), Account(FEE, 1))
    assert [(d.rtx.tx.nonce, d.reason) for d in pool.take_drops()] == [(1, DropReason.UNPAYABLE)]  # type: ignore[union-attr]
    assert len(pool) == 0


def test_included_and_removed_transactions_free_their_share_of_the_balance() -> None:
    pool = Mempool()
    cost = FEE + 1
    for nonce in range(3):
        pool.add(tx(A, nonce), Account(3 * cost, 0))
    pool.remove_included([tx(A, 0), tx(A, 1)])
    account = Account(3 * cost, 2)  # paid for two, then received a deposit of the same
    pool.sync_accounts({A: account})
    pool.add(tx(A, 3), account)
    pool.add(tx(A, 4), account)  # 3 x cost: exactly the balance
    with pytest.raises(Overdraft):
        pool.add(tx(A, 5), account)


def test_a_reopened_gap_is_trimmed_to_the_queued_caps() -> None:
    pool = Mempool(MempoolLimits(max_txs=100, max_queued=4, max_queued_per_sender=2))
    for nonce in range(5):
        pool.add(tx(A, nonce), rich())
    for nonce in range(3):
        pool.add(tx(B, nonce), rich())
    assert pool.status().queued == 0
    pool.remove_included([tx(A, 0), tx(B, 0)])  # rejected from a block: nonce 0 is free again, gaps reopen
    assert pool.status().queued == 6
    assert pool.enforce_caps() == 2  # A keeps its 2 lowest queued, B its 2: 4 = the pool's cap too
    assert pool.status().queued == 4
    assert sorted(e.nonce for e in pool.entries() if e.rtx.sender == A) == [1, 2]
    assert all(d.reason is DropReason.EVICTED for d in pool.take_drops())


# -- properties -----------------------------------------------------------------------------

PROP_SENDERS = [addr(100 + i) for i in range(8)]

add_op = st.tuples(
    st.just("add"),
    st.integers(0, 7),
    st.one_of(st.integers(0, 3), st.integers(0, 12)),
    st.integers(1000, 1300),
    st.integers(1, 3000),
)
op = st.one_of(
    add_op,
    add_op,
    add_op,
    add_op,
    st.tuples(st.just("block"), st.integers(0, 8), st.integers(0, 7), st.integers(0, 6000)),
    st.tuples(st.just("tick"), st.integers(0, 40_000)),
    st.tuples(st.just("reject"), st.integers(0, 7)),
)
limits_strategy = st.builds(
    MempoolLimits,
    max_txs=st.integers(3, 16),
    max_queued=st.one_of(st.none(), st.integers(0, 3)),
    max_pending_per_sender=st.integers(1, 6),
    max_queued_per_sender=st.integers(0, 4),
    max_nonce_gap=st.integers(2, 12),
    queued_lifetime_ms=st.integers(10_000, 60_000),
)


def rank(entry_fee: int, priority: int, pending: bool) -> tuple[int, bool, int]:
    return (priority, not pending, -entry_fee)


def check_invariants(pool: Mempool, accounts: dict[bytes, Account], limits: MempoolLimits) -> None:
    entries = pool.entries()
    assert len(entries) == len(pool) <= limits.max_txs
    pending_total = 0
    for sender in {e.rtx.sender for e in entries}:
        account = accounts[sender]
        mine = {e.nonce: e for e in entries if e.rtx.sender == sender}
        assert pool.account_of(sender) == account
        assert sum(e.cost for e in mine.values()) <= account.balance  # nothing unpayable, queued or pending
        assert min(mine) >= account.nonce
        run = 0
        while account.nonce + run in mine:
            run += 1
        assert len(mine) - run <= limits.max_queued_per_sender
        assert all(pool.is_pending(e.rtx.hash) is (e.nonce < account.nonce + run) for e in mine.values())
        pending_total += run
    status = pool.status()
    assert (status.pending, status.queued) == (pending_total, len(entries) - pending_total)
    assert status.queued <= limits.queued_capacity


@settings(max_examples=300, deadline=None)
@given(
    limits=limits_strategy,
    balances=st.lists(st.integers(0, 60_000), min_size=8, max_size=8),
    ops=st.lists(op, min_size=20, max_size=120),
)
def test_random_operations_keep_the_pool_sound(limits: MempoolLimits, balances: list[int], ops: list[tuple]) -> None:  # type: ignore[type-arg]
    pool = Mempool(limits, priority=lambda rtx: rtx.tx.fee % 3)  # type: ignore[union-attr]
    accounts = {s: Account(b, 0) for s, b in zip(PROP_SENDERS, balances)}
    accepted: set[bytes] = set()
    included: set[bytes] = set()
    dropped: set[bytes] = set()
    now = 0
    for i, step in enumerate(ops):
        if step[0] == "add":
            _, who, ahead, fee, amount = step
            sender = PROP_SENDERS[who]
            newcomer = tx(sender, accounts[sender].nonce + ahead, fee=fee, amount=amount, tag=i)
            before = {e.rtx.hash: (e, pool.is_pending(e.rtx.hash)) for e in pool.entries()}
            try:
                admission = pool.add(newcomer, accounts[sender], now)
            except Overdraft:  # refused only when the sender's other pooled ones plus this one really overdraw
                others = sum(
                    e.cost for e, _ in before.values() if e.rtx.sender == sender and e.nonce != newcomer.tx.nonce
                )  # type: ignore[union-attr]
                assert others + fee + amount > accounts[sender].balance
            except MempoolFull:  # refused only when a cap is really reached
                queued = sum(1 for _, p in before.values() if not p)
                assert len(before) >= limits.max_txs or queued >= limits.queued_capacity
            except (SenderQueueFull, ReplacementUnderpriced, InsufficientBalance, NonceGapTooLarge):
                assert newcomer.hash not in pool
            else:
                accepted.add(newcomer.hash)
                if admission.evicted is not None:
                    victim, victim_pending = before[admission.evicted.hash]
                    new_pending = bool(pool.is_pending(newcomer.hash))
                    assert new_pending or not victim_pending  # a queued newcomer never evicts a pending one
                    assert rank(fee, fee % 3, new_pending) < rank(victim.fee, victim.priority, victim_pending)
                    assert victim.rtx.sender != sender
                    assert victim.nonce == max(e.nonce for e, _ in before.values() if e.rtx.sender == victim.rtx.sender)
        elif step[0] == "block":
            _, count, who, loss = step
            chosen = pool.take(count, lambda s: accounts[s].nonce)
            for rtx in chosen:
                account = accounts[rtx.sender]
                assert rtx.tx.nonce == account.nonce  # type: ignore[union-attr]
                cost = pool.entry(rtx.hash).cost  # type: ignore[union-attr]
                assert cost <= account.balance  # what the pool holds is payable when executed in order
                accounts[rtx.sender] = Account(account.balance - cost, account.nonce + 1)
                included.add(rtx.hash)
            pool.remove_included(chosen)
            victim_sender = PROP_SENDERS[who]
            accounts[victim_sender] = Account(
                max(0, accounts[victim_sender].balance - loss), accounts[victim_sender].nonce
            )
            pool.sync_accounts(accounts)
            pool.enforce_caps()
        elif step[0] == "reject":  # the block builder refused a sender's next transaction: its gap reopens
            sender = PROP_SENDERS[step[1]]
            head = [e.rtx for e in pool.entries() if e.rtx.sender == sender and e.nonce == accounts[sender].nonce]
            pool.remove_included(head)
            included.update(r.hash for r in head)  # reported by the caller (sequencer.txpool), not the pool
            pool.enforce_caps()
        else:
            now += step[1]
            pool.expire(now)
            assert all(
                pool.is_pending(e.rtx.hash) or e.added_ms > now - limits.queued_lifetime_ms for e in pool.entries()
            )
        for drop in pool.take_drops():
            h = drop.rtx.hash
            assert h in accepted and h not in dropped and h not in included and h not in pool
            dropped.add(h)
        check_invariants(pool, accounts, limits)
        in_pool = {e.rtx.hash for e in pool.entries()}
        assert accepted == in_pool | included | dropped  # nothing accepted disappears silently
        assert not (in_pool & dropped) and not (in_pool & included)


# -- config ---------------------------------------------------------------------------------


def test_mempool_config_keys_defaults_and_errors() -> None:
    from node.service import ConfigError
    from sequencer.config import load_sequencer_section

    section = load_sequencer_section({"sequencer": {"l1_rpc": "http://127.0.0.1:8545/"}})
    assert section.mempool == MempoolLimits()
    assert section.mempool.queued_capacity == 2_500
    assert section.journal.enabled and not section.journal.fsync and section.journal.rotate_ms == 60_000
    custom = load_sequencer_section(
        {
            "sequencer": {
                "l1_rpc": "http://127.0.0.1:8545/",
                "mempool_max_txs": 100,
                "mempool_max_queued": 10,
                "mempool_max_per_sender": 5,
                "mempool_max_queued_per_sender": 2,
                "mempool_price_bump_percent": 25,
                "mempool_queued_lifetime_ms": 5_000,
                "mempool_journal": False,
                "mempool_journal_fsync": True,
                "mempool_rejournal_ms": 2_000,
                "mempool_dropped_history": 7,
            }
        }
    )
    assert custom.mempool == MempoolLimits(
        max_txs=100,
        max_queued=10,
        max_pending_per_sender=5,
        max_queued_per_sender=2,
        price_bump_percent=25,
        queued_lifetime_ms=5_000,
    )
    assert (custom.journal.enabled, custom.journal.fsync, custom.journal.rotate_ms, custom.journal.dropped_history) == (
        False,
        True,
        2_000,
        7,
    )
    for key, value in [
        ("mempool_max_queued", 101),
        ("mempool_journal", "yes"),
        ("mempool_price_bump_percent", -1),
        ("mempool_queued_lifetime_ms", 10),
    ]:
        with pytest.raises(ConfigError, match=key):
            load_sequencer_section(
                {"sequencer": {"l1_rpc": "http://127.0.0.1:8545/", "mempool_max_txs": 100, key: value}}
            )
