"""The sequencer's mempool: the mempool core (node.mempool) with payability, a priority lane, eviction and expiry.

Pure and synchronous: no clock, no I/O. The caller hands in the sender's
account at the current head (nonce and balance) and the time in ms; the
pool never reads the chain. Per-sender nonce queues (pending and queued),
replacement with a fee bump, the nonce window, removal after a block and
the stale drop when the head moves are the core's, shared with the L1
chain's pool; this module adds the sequencer's rules on top.

Admission (`add`), in order (codes in node.mempool_errors):
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
caps because a gap reopened), `drop_from` (a sender's transactions from a
nonce that will not be used on: a heal dropped it). Every transaction that leaves the pool without
being taken into a block is reported once, with its reason, by `take_drops`.

`take` picks executable transactions by priority, then fee, across senders
while keeping each sender's nonces in order (the core's heap, ranked here).
"""

from __future__ import annotations

import heapq

from node.mempool import (
    Admission,
    CostOf,
    Drop,
    DropReason,
    NoncePool,
    PoolEntry,
    Rank,
    SenderQueue,
)
from node.mempool_errors import (
    AlreadyKnown,
    MempoolError,
    MempoolFull,
    NonceGapTooLarge,
    Overdraft,
    ReplacementUnderpriced,
    SenderQueueFull,
    TransactionTooLarge,
)
from node.state.schema import Account
from node.stf import InsufficientBalance
from node.tx import RecoveredTx, SignedTx
from sequencer.mempool_values import (
    DEFAULT_MAX_NONCE_GAP,
    DEFAULT_MAX_PENDING_PER_SENDER,
    DEFAULT_MAX_QUEUED_PER_SENDER,
    DEFAULT_MAX_TXS,
    DEFAULT_PRICE_BUMP_PERCENT,
    DEFAULT_QUEUED_LIFETIME_MS,
    MempoolLimits,
    PoolStatus,
    Priority,
    compute_tx_cost,
    no_priority,
    signed_fields,
)

# heap item: (-priority, fee, -seq, stamp, sender): the worst tail on top
_TailItem = tuple[int, int, int, int, bytes]


def _outranks(priority: int, pending: bool, fee: int, victim: PoolEntry[RecoveredTx], victim_pending: bool) -> bool:
    return (priority, not pending, -fee) < (victim.priority, not victim_pending, -victim.fee)


class Mempool(NoncePool[RecoveredTx]):
    def __init__(
        self,
        limits: MempoolLimits = MempoolLimits(),
        priority: Priority = no_priority,
        cost_of: CostOf = compute_tx_cost,
    ) -> None:
        super().__init__(limits.pool_rules, cost_of)
        self.limits = limits
        self.priority = priority
        self._queued_tails: list[_TailItem] = []
        self._pending_tails: list[_TailItem] = []

    # -- admission --

    def validate_size(self, size: int) -> None:
        if size > self.limits.max_tx_bytes:
            raise TransactionTooLarge(size, self.limits.max_tx_bytes)

    def add(self, rtx: RecoveredTx, account: Account, now_ms: int = 0) -> Admission[RecoveredTx]:
        """Admit `rtx` given its sender's account at the head; raise a MempoolError (or the
        InvalidTransaction NonceTooLow / InsufficientBalance)."""
        tx = signed_fields(rtx)
        self.validate_size(len(rtx.raw))
        self.validate_unknown(rtx.hash)
        sender = rtx.sender
        state = self._sender_at(sender, account)
        self.validate_nonce_window(sender, tx.nonce, account)
        cost = self.cost_of(tx)
        if cost > account.balance:
            raise InsufficientBalance(sender, account.balance, cost)
        current = None if state is None else state.txs.get(tx.nonce)
        if state is not None and current is not None:
            return self._replace(sender, state, rtx, tx, cost, current, now_ms)
        return self._add_new(sender, state, account, rtx, tx, cost, now_ms)

    def _replace(
        self,
        sender: bytes,
        state: SenderQueue[RecoveredTx],
        rtx: RecoveredTx,
        tx: SignedTx,
        cost: int,
        current: PoolEntry[RecoveredTx],
        now_ms: int,
    ) -> Admission[RecoveredTx]:
        self.validate_replacement_fee(current, tx.fee)
        others = state.cost - current.cost
        if others + cost > state.account.balance:
            raise Overdraft(sender, state.account.balance, others, len(state.txs) - 1, cost)
        entry = self._new_entry(rtx, cost, self.priority(rtx), now_ms)
        self._swap(sender, state, current, entry)
        return Admission(entry, replaced=current.rtx)

    def _add_new(
        self,
        sender: bytes,
        state: SenderQueue[RecoveredTx] | None,
        account: Account,
        rtx: RecoveredTx,
        tx: SignedTx,
        cost: int,
        now_ms: int,
    ) -> Admission[RecoveredTx]:
        pending = tx.nonce == (account.nonce if state is None else state.next_pending_nonce())
        self._validate_sender_caps(
            sender, 0 if state is None else state.run, 0 if state is None else state.queued, pending
        )
        if state is not None and state.cost + cost > account.balance:
            raise Overdraft(sender, account.balance, state.cost, len(state.txs), cost)
        priority = self.priority(rtx)
        victim = self._find_room(sender, priority, pending, tx.fee)
        entry = self._new_entry(rtx, cost, priority, now_ms)
        if victim is not None:
            self._evict(victim, f"made room for 0x{rtx.hash.hex()} paying {tx.fee}")
        self._insert(sender, state, account, entry)
        return Admission(entry, evicted=None if victim is None else victim.rtx)

    def _validate_sender_caps(self, sender: bytes, pending_count: int, queued_count: int, pending: bool) -> None:
        if pending:
            self.validate_sender_cap(sender, pending_count, self.limits.max_pending_per_sender, "pending transactions")
        else:
            self.validate_sender_cap(sender, queued_count, self.limits.max_queued_per_sender, "queued transactions")

    def _find_room(self, sender: bytes, priority: int, pending: bool, fee: int) -> PoolEntry[RecoveredTx] | None:
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

    # -- eviction: each sender's tail in a heap, the worst on top --

    def _index(self, sender: bytes, state: SenderQueue[RecoveredTx]) -> None:
        tail = state.tail()
        heapq.heappush(
            self._queued_tails if state.queued else self._pending_tails,
            (-tail.priority, tail.fee, -tail.seq, state.stamp, sender),
        )
        if len(self._queued_tails) + len(self._pending_tails) > 2 * len(self._senders) + 1024:
            self._rebuild_tail_heaps()

    def _rebuild_tail_heaps(self) -> None:
        queued: list[_TailItem] = []
        pending: list[_TailItem] = []
        for sender, state in self._senders.items():
            if not state.txs:
                continue  # emptied by a removal whose refresh (which forgets the sender) has not run yet
            tail = state.tail()
            (queued if state.queued else pending).append((-tail.priority, tail.fee, -tail.seq, state.stamp, sender))
        heapq.heapify(queued)
        heapq.heapify(pending)
        self._queued_tails, self._pending_tails = queued, pending

    def _worst(self, heap: list[_TailItem], excluding: bytes | None) -> PoolEntry[RecoveredTx] | None:
        """The worst-ranked tail in `heap` of a sender other than `excluding` (stale items are discarded)."""
        skipped: _TailItem | None = None
        found: PoolEntry[RecoveredTx] | None = None
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

    def _evict(self, victim: PoolEntry[RecoveredTx], detail: str) -> None:
        sender = victim.rtx.sender
        state = self._senders[sender]
        self._drop(state, victim, DropReason.EVICTED, detail)
        self._refresh(sender, state)

    # -- when the head moves, and with time --

    def _drop_unpayable(self, state: SenderQueue[RecoveredTx]) -> None:
        """After the stale ones: the tail the balance no longer covers, from the first nonce it cannot pay."""
        account = state.account
        if state.cost <= account.balance:
            return
        total = 0
        unpayable: list[PoolEntry[RecoveredTx]] = []
        for nonce in sorted(state.txs):
            entry = state.txs[nonce]
            total += entry.cost
            if unpayable or total > account.balance:
                unpayable.append(entry)
        for entry in unpayable:
            self._drop(state, entry, DropReason.UNPAYABLE, f"balance {account.balance} no longer covers it")

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

    def drop_from(self, sender: bytes, nonce: int, reason: DropReason, detail: str) -> int:
        """Drop `sender`'s transactions with nonces from `nonce` on (they can no longer execute); return how many."""
        state = self._senders.get(sender)
        if state is None:
            return 0
        doomed = [entry for n, entry in state.txs.items() if n >= nonce]
        for entry in doomed:
            self._drop(state, entry, reason, detail)
        if doomed:
            self._refresh(sender, state)
        return len(doomed)

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

    def rank(self, entry: PoolEntry[RecoveredTx]) -> Rank:
        """Priority first, then the higher fee, then arrival."""
        return (entry.priority, -entry.fee, entry.seq)

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
