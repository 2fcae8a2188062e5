"""The sequencer's mempool: per-sender nonce queues, sound admission, fee-priority selection.

Pure and synchronous: no clock, no I/O. The caller hands in the sender's
account at the current head (nonce and balance) and the time in ms; the
pool never reads the chain. Terms as in geth's txpool: a sender's
transactions whose nonces run without a gap from its account nonce are
*pending* (executable); the rest are *queued* (held back until the gap fills).

Admission (`add`), in order (codes in sequencer.mempool_errors):
  1. size, not already known, account nonce <= nonce <= account nonce + max_nonce_gap;
  2. the transaction's cost (fee + its kind's cost, e.g. a transfer's amount)
     within the balance (-32014, as the block builder would say);
  3. the same (sender, nonce) is replaced only with a fee bump of
     `price_bump_percent` (-32022);
  4. per sender: at most `max_pending_per_sender` pending and
     `max_queued_per_sender` queued (-32021);
  5. the sender's pooled transactions (pending and queued) plus this one
     within its balance (-32026 overdraft): a queued transaction is payable;
  6. room: at most `max_txs` in all, of which at most `queued_capacity`
     queued. Without room the newcomer evicts the worst tail (highest nonce,
     so no gap opens) of another sender if it outranks it, a queued tail
     first; a queued newcomer never evicts a pending one, so queued
     transactions never crowd out pending ones (-32020 otherwise).
Rank: lower priority value first (the venue's oracle updates and cancels,
`node.venue.priority_of`), then pending before queued, then higher fee.

Upkeep: `sync_accounts` when the head moves (a sender loses its stale
transactions, then its unpayable tail), `expire` (queued transactions older
than `queued_lifetime_ms`), `enforce_caps` (queued counts grown past their
caps because a gap reopened). Every transaction that leaves the pool without
being taken into a block is reported once, with its reason, by `take_drops`.

`take` picks executable transactions by rank across senders while keeping
each sender's nonces in order (a heap over each sender's next transaction).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Iterable, Iterator, Mapping

from node.state.schema import Account
from node.stf import InsufficientBalance, NonceTooLow
from node.tx import RecoveredTx, SignedTx
from sequencer.mempool_errors import (
    AlreadyKnown,
    MempoolError,
    MempoolFull,
    NonceGapTooLarge,
    Overdraft,
    ReplacementUnderpriced,
    SenderQueueFull,
    TransactionTooLarge,
)

from sequencer.mempool_values import (
    DEFAULT_MAX_NONCE_GAP,
    DEFAULT_MAX_PENDING_PER_SENDER,
    DEFAULT_MAX_QUEUED_PER_SENDER,
    DEFAULT_MAX_TXS,
    DEFAULT_PRICE_BUMP_PERCENT,
    DEFAULT_QUEUED_LIFETIME_MS,
    Admission,
    CostOf,
    Drop,
    DropReason,
    Exclude,
    MempoolLimits,
    PoolEntry,
    PoolStatus,
    Priority,
    StateNonceOf,
    compute_tx_cost,
    no_priority,
    signed_fields,
)

# -- one sender's transactions --------------------------------------------------------------


class _Sender:
    """A sender's transactions by nonce, its account at the head, and counts kept up to date by the pool."""

    __slots__ = ("account", "txs", "cost", "run", "queued", "top", "stamp")

    def __init__(self, account: Account) -> None:
        self.account = account
        self.txs: dict[int, PoolEntry] = {}
        self.cost = 0  # sum of the entries' costs
        self.run = 0  # pending: account.nonce .. account.nonce + run - 1 are all here
        self.queued = 0  # len(txs) - run, as counted in the pool's total
        self.top = -1  # highest nonce
        self.stamp = 0  # the valid tail-heap item carries this

    def tail(self) -> PoolEntry:
        return self.txs[self.top]

    def next_pending_nonce(self) -> int:
        return self.account.nonce + self.run

    def is_pending(self, nonce: int) -> bool:
        return self.account.nonce <= nonce < self.account.nonce + self.run

    def count_run(self) -> int:
        base, txs, run = self.account.nonce, self.txs, 0
        while base + run in txs:
            run += 1
        return run


# heap item: (-priority, fee, -seq, stamp, sender): the worst tail on top
_TailItem = tuple[int, int, int, int, bytes]


def _outranks(priority: int, pending: bool, fee: int, victim: PoolEntry, victim_pending: bool) -> bool:
    return (priority, not pending, -fee) < (victim.priority, not victim_pending, -victim.fee)


# -- the pool -----------------------------------------------------------------------------


class Mempool:
    def __init__(
        self, limits: MempoolLimits = MempoolLimits(), priority: Priority = no_priority, cost_of: CostOf = compute_tx_cost
    ) -> None:
        self.limits = limits
        self.priority = priority
        self.cost_of = cost_of
        self._senders: dict[bytes, _Sender] = {}
        self._by_hash: dict[bytes, PoolEntry] = {}  # insertion order = arrival order
        self._queued_total = 0
        self._with_queued: set[bytes] = set()
        self._queued_tails: list[_TailItem] = []
        self._pending_tails: list[_TailItem] = []
        self._drops: list[Drop] = []
        self._seq: Iterator[int] = itertools.count()
        self._stamps: Iterator[int] = itertools.count(1)

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> RecoveredTx | None:
        entry = self._by_hash.get(tx_hash)
        return None if entry is None else entry.rtx

    def entry(self, tx_hash: bytes) -> PoolEntry | None:
        return self._by_hash.get(tx_hash)

    def entries(self) -> list[PoolEntry]:
        """Every entry, in arrival order."""
        return list(self._by_hash.values())

    def senders(self) -> list[bytes]:
        return list(self._senders)

    def account_of(self, sender: bytes) -> Account | None:
        state = self._senders.get(sender)
        return None if state is None else state.account

    def is_pending(self, tx_hash: bytes) -> bool | None:
        """True for pending, False for queued, None when not in the pool."""
        entry = self._by_hash.get(tx_hash)
        if entry is None:
            return None
        return self._senders[entry.rtx.sender].is_pending(entry.nonce)

    def take_drops(self) -> list[Drop]:
        """Transactions that left the pool without being taken into a block since the last call."""
        drops, self._drops = self._drops, []
        return drops

    # -- admission --

    def validate_size(self, size: int) -> None:
        if size > self.limits.max_tx_bytes:
            raise TransactionTooLarge(size, self.limits.max_tx_bytes)

    def add(self, rtx: RecoveredTx, account: Account, now_ms: int = 0) -> Admission:
        """Admit `rtx` given its sender's account at the head; raise a MempoolError (or the
        InvalidTransaction NonceTooLow / InsufficientBalance)."""
        tx = signed_fields(rtx)
        self.validate_size(len(rtx.raw))
        if rtx.hash in self._by_hash:
            raise AlreadyKnown(rtx.hash)
        sender = rtx.sender
        state = self._senders.get(sender)
        if state is not None and state.account != account:
            self._resync(sender, state, account)
            state = self._senders.get(sender)
        self._validate_nonce(sender, tx.nonce, account)
        cost = self.cost_of(tx)
        if cost > account.balance:
            raise InsufficientBalance(sender, account.balance, cost)
        current = None if state is None else state.txs.get(tx.nonce)
        if state is not None and current is not None:
            return self._replace(sender, state, rtx, tx, cost, current, now_ms)
        return self._add_new(sender, state, account, rtx, tx, cost, now_ms)

    def _validate_nonce(self, sender: bytes, nonce: int, account: Account) -> None:
        if nonce < account.nonce:
            raise NonceTooLow(sender, account.nonce, nonce)
        if nonce - account.nonce > self.limits.max_nonce_gap:
            raise NonceGapTooLarge(sender, account.nonce, nonce, self.limits.max_nonce_gap)

    def _replace(
        self, sender: bytes, state: _Sender, rtx: RecoveredTx, tx: SignedTx, cost: int, current: PoolEntry, now_ms: int
    ) -> Admission:
        need = self.limits.compute_replacement_fee(current.fee)
        if tx.fee < need:
            raise ReplacementUnderpriced(current.fee, need, tx.fee, self.limits.price_bump_percent)
        others = state.cost - current.cost
        if others + cost > state.account.balance:
            raise Overdraft(sender, state.account.balance, others, len(state.txs) - 1, cost)
        entry = self._new_entry(rtx, tx, cost, now_ms)
        self._detach(state, current)
        self._drops.append(Drop(current.rtx, DropReason.REPLACED, f"replaced by 0x{rtx.hash.hex()} paying {tx.fee}"))
        self._attach(state, entry)
        self._refresh(sender, state)
        return Admission(entry, replaced=current.rtx)

    def _add_new(
        self, sender: bytes, state: _Sender | None, account: Account, rtx: RecoveredTx, tx: SignedTx, cost: int, now_ms: int
    ) -> Admission:
        pending = tx.nonce == (account.nonce if state is None else state.next_pending_nonce())
        self._validate_sender_caps(sender, 0 if state is None else state.run, 0 if state is None else state.queued, pending)
        if state is not None and state.cost + cost > account.balance:
            raise Overdraft(sender, account.balance, state.cost, len(state.txs), cost)
        priority = self.priority(rtx)
        victim = self._find_room(sender, priority, pending, tx.fee)
        entry = self._new_entry(rtx, tx, cost, now_ms, priority)
        if victim is not None:
            self._evict(victim, f"made room for 0x{rtx.hash.hex()} paying {tx.fee}")
        if state is None:
            state = self._senders[sender] = _Sender(account)
        self._attach(state, entry)
        self._refresh(sender, state)
        return Admission(entry, evicted=None if victim is None else victim.rtx)

    def _validate_sender_caps(self, sender: bytes, pending_count: int, queued_count: int, pending: bool) -> None:
        if pending and pending_count >= self.limits.max_pending_per_sender:
            raise SenderQueueFull(sender, self.limits.max_pending_per_sender, "pending transactions")
        if not pending and queued_count >= self.limits.max_queued_per_sender:
            raise SenderQueueFull(sender, self.limits.max_queued_per_sender, "queued transactions")

    def _find_room(self, sender: bytes, priority: int, pending: bool, fee: int) -> PoolEntry | None:
        """None if there is room; else the entry to evict for the newcomer; MempoolFull if it outranks none."""
        full = len(self._by_hash) >= self.limits.max_txs
        queued_full = not pending and self._queued_total >= self.limits.queued_capacity
        if not full and not queued_full:
            return None
        worst_queued = self._worst(self._queued_tails, sender)
        if worst_queued is not None and _outranks(priority, pending, fee, worst_queued, False):
            return worst_queued
        worst_pending = self._worst(self._pending_tails, sender) if pending else None
        if worst_pending is not None and _outranks(priority, pending, fee, worst_pending, True):
            return worst_pending
        if full:
            cheapest = worst_pending or worst_queued
            raise MempoolFull(self.limits.max_txs, fee, None if cheapest is None else cheapest.fee)
        cheapest_fee = None if worst_queued is None else worst_queued.fee
        raise MempoolFull(self.limits.queued_capacity, fee, cheapest_fee, "queued transactions")

    def _new_entry(self, rtx: RecoveredTx, tx: SignedTx, cost: int, now_ms: int, priority: int | None = None) -> PoolEntry:
        rank = self.priority(rtx) if priority is None else priority
        return PoolEntry(rtx, tx.nonce, tx.fee, cost, rank, next(self._seq), now_ms)

    # -- bookkeeping: every change to a sender goes through _attach/_detach, then _refresh --

    def _attach(self, state: _Sender, entry: PoolEntry) -> None:
        state.txs[entry.nonce] = entry
        state.cost += entry.cost
        state.top = max(state.top, entry.nonce)
        self._by_hash[entry.rtx.hash] = entry

    def _detach(self, state: _Sender, entry: PoolEntry) -> None:
        del state.txs[entry.nonce]
        state.cost -= entry.cost
        del self._by_hash[entry.rtx.hash]
        if entry.nonce == state.top:
            state.top = max(state.txs) if state.txs else -1

    def _drop(self, state: _Sender, entry: PoolEntry, reason: DropReason, detail: str) -> None:
        self._detach(state, entry)
        self._drops.append(Drop(entry.rtx, reason, detail))

    def _refresh(self, sender: bytes, state: _Sender) -> None:
        """Recount the sender's pending run and queued count; re-index its tail (or forget the sender)."""
        state.run = state.count_run()
        queued = len(state.txs) - state.run
        self._queued_total += queued - state.queued
        state.queued = queued
        state.stamp = next(self._stamps)
        if queued:
            self._with_queued.add(sender)
        else:
            self._with_queued.discard(sender)
        if not state.txs:
            del self._senders[sender]
            return
        tail = state.tail()
        heapq.heappush(
            self._queued_tails if queued else self._pending_tails, (-tail.priority, tail.fee, -tail.seq, state.stamp, sender)
        )
        if len(self._queued_tails) + len(self._pending_tails) > 2 * len(self._senders) + 1024:
            self._rebuild_tail_heaps()

    def _rebuild_tail_heaps(self) -> None:
        queued: list[_TailItem] = []
        pending: list[_TailItem] = []
        for sender, state in self._senders.items():
            tail = state.tail()
            (queued if state.queued else pending).append((-tail.priority, tail.fee, -tail.seq, state.stamp, sender))
        heapq.heapify(queued)
        heapq.heapify(pending)
        self._queued_tails, self._pending_tails = queued, pending

    def _worst(self, heap: list[_TailItem], excluding: bytes | None) -> PoolEntry | None:
        """The worst-ranked tail in `heap` of a sender other than `excluding` (stale items are discarded)."""
        skipped: _TailItem | None = None
        found: PoolEntry | None = None
        while heap:
            item = heap[0]
            state = self._senders.get(item[4])
            if state is None or state.stamp != item[3]:
                heapq.heappop(heap)
                continue
            if item[4] == excluding:
                skipped = heapq.heappop(heap)
                continue
            found = state.tail()
            break
        if skipped is not None:
            heapq.heappush(heap, skipped)
        return found

    def _evict(self, victim: PoolEntry, detail: str) -> None:
        sender = victim.rtx.sender
        state = self._senders[sender]
        self._drop(state, victim, DropReason.EVICTED, detail)
        self._refresh(sender, state)

    # -- when the head moves --

    def sync_accounts(self, accounts: Mapping[bytes, Account]) -> None:
        """Senders' accounts at the new head: each changed one loses its stale, then its unpayable transactions."""
        if len(accounts) > len(self._senders):
            pairs = [(s, accounts[s]) for s in self._senders if s in accounts]
        else:
            pairs = [(s, a) for s, a in accounts.items() if s in self._senders]
        for sender, account in pairs:
            state = self._senders[sender]
            if state.account != account:
                self._resync(sender, state, account)

    def _resync(self, sender: bytes, state: _Sender, account: Account) -> None:
        state.account = account
        for entry in [e for n, e in state.txs.items() if n < account.nonce]:
            self._drop(state, entry, DropReason.STALE, f"nonce {entry.nonce} was used (account nonce is {account.nonce})")
        if state.cost > account.balance:
            total = 0
            unpayable: list[PoolEntry] = []
            for nonce in sorted(state.txs):
                entry = state.txs[nonce]
                total += entry.cost
                if unpayable or total > account.balance:
                    unpayable.append(entry)
            for entry in unpayable:
                self._drop(state, entry, DropReason.UNPAYABLE, f"balance {account.balance} no longer covers it")
        self._refresh(sender, state)

    def expire(self, now_ms: int) -> int:
        """Drop queued transactions that arrived more than queued_lifetime_ms before `now_ms`; return how many."""
        deadline = now_ms - self.limits.queued_lifetime_ms
        dropped = 0
        for sender in list(self._with_queued):
            state = self._senders[sender]
            gap = state.next_pending_nonce()  # absent: every nonce from here on is queued
            old = [e for n, e in state.txs.items() if n >= gap and e.added_ms <= deadline]
            for entry in old:
                self._drop(state, entry, DropReason.EXPIRED, f"queued for over {self.limits.queued_lifetime_ms} ms")
            if old:
                self._refresh(sender, state)
                dropped += len(old)
        return dropped

    def enforce_caps(self) -> int:
        """Trim queued counts grown past their caps (a gap reopened): each sender's highest nonces first,
        then the pool's worst queued tails. Return how many went."""
        dropped = 0
        cap = self.limits.max_queued_per_sender
        for sender in list(self._with_queued):
            state = self._senders[sender]
            while state.queued > cap:
                self._drop(state, state.tail(), DropReason.EVICTED, f"over the sender's queued cap of {cap}")
                self._refresh(sender, state)
                dropped += 1
        while self._queued_total > self.limits.queued_capacity:
            victim = self._worst(self._queued_tails, None)
            if victim is None:
                break
            self._evict(victim, f"over the pool's queued cap of {self.limits.queued_capacity}")
            dropped += 1
        return dropped

    # -- selection --

    def take(self, max_count: int, state_nonce_of: StateNonceOf, exclude: Exclude | None = None) -> list[RecoveredTx]:
        """Up to `max_count` executable transactions, by priority then highest fee, each sender's in nonce order.

        Nothing is removed: call `remove_included` once the block is sealed.
        Senders for which `exclude(sender)` is true are skipped (censor mode).
        """
        heap = self._heads(state_nonce_of, exclude)
        chosen: list[RecoveredTx] = []
        while heap and len(chosen) < max_count:
            _, _, _, sender, nonce = heapq.heappop(heap)
            txs = self._senders[sender].txs
            chosen.append(txs[nonce].rtx)
            following = txs.get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, (following.priority, -following.fee, following.seq, sender, following.nonce))
        return chosen

    def _heads(self, state_nonce_of: StateNonceOf, exclude: Exclude | None) -> list[tuple[int, int, int, bytes, int]]:
        heap = []
        for sender, state in self._senders.items():
            if exclude is not None and exclude(sender):
                continue
            first = state.txs.get(state_nonce_of(sender))
            if first is not None:
                heap.append((first.priority, -first.fee, first.seq, sender, first.nonce))
        heapq.heapify(heap)
        return heap

    # -- after a block --

    def remove_included(self, txs: Iterable[RecoveredTx]) -> int:
        """Forget transactions that made it into a block (or were rejected from it); return how many.
        Not reported as drops: the caller knows which were rejected."""
        return self.remove_hashes(rtx.hash for rtx in txs)

    def remove_hashes(self, hashes: Iterable[bytes]) -> int:
        touched: set[bytes] = set()
        removed = 0
        for tx_hash in hashes:
            entry = self._by_hash.get(tx_hash)
            if entry is not None:
                self._detach(self._senders[entry.rtx.sender], entry)
                touched.add(entry.rtx.sender)
                removed += 1
        for sender in touched:
            self._refresh(sender, self._senders[sender])
        return removed

    def drop_stale(self, state_nonce_of: StateNonceOf, senders: Iterable[bytes] | None = None) -> list[RecoveredTx]:
        """Drop transactions whose nonce is below their sender's state nonce; return them."""
        dropped: list[RecoveredTx] = []
        for sender in list(self._senders if senders is None else senders):
            state = self._senders.get(sender)
            if state is None:
                continue
            nonce = state_nonce_of(sender)
            stale = [e.rtx for n, e in state.txs.items() if n < nonce]
            if nonce != state.account.nonce:
                self._resync(sender, state, Account(state.account.balance, nonce))
            dropped.extend(stale)
        return dropped

    # -- inspection --

    def status(self) -> PoolStatus:
        queued = self._queued_total
        return PoolStatus(len(self) - queued, queued, self.limits.max_txs, self.limits.queued_capacity)


__all__ = [
    "DEFAULT_MAX_NONCE_GAP",
    "DEFAULT_MAX_PENDING_PER_SENDER",
    "DEFAULT_MAX_QUEUED_PER_SENDER",
    "DEFAULT_MAX_TXS",
    "DEFAULT_PRICE_BUMP_PERCENT",
    "DEFAULT_QUEUED_LIFETIME_MS",
    "Admission",
    "AlreadyKnown",
    "Drop",
    "DropReason",
    "Mempool",
    "MempoolError",
    "MempoolFull",
    "MempoolLimits",
    "NonceGapTooLarge",
    "Overdraft",
    "PoolEntry",
    "PoolStatus",
    "ReplacementUnderpriced",
    "SenderQueueFull",
    "TransactionTooLarge",
    "compute_tx_cost",
    "no_priority",
]
