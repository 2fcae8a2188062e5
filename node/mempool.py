"""The mempool core both chains run: per-sender nonce queues, replacement with a fee bump, caps, removal.

Pure and synchronous: no clock, no I/O. The caller hands in the sender's
account at the current head (and the time in ms); the pool never reads the
chain. Terms as in geth's txpool: a sender's transactions whose nonces run
without a gap from its account nonce are *pending* (executable); the rest
are *queued* (held back until the gap fills).

`NoncePool` is the L1 chain's mempool as it is (l1.chain.mempool gives its
rules); the sequencer's (sequencer.mempool) adds payability, a priority
lane, eviction and expiry on top of it, and the journal around it
(sequencer.txpool). Refusals are node.mempool_errors', worded as the rules say.

Admission (`add`), in order:
  1. not already known (AlreadyKnown);
  2. account nonce <= nonce <= account nonce + max_nonce_gap (NonceTooLow, NonceGapTooLarge);
  3. the same (sender, nonce) is replaced only by a fee at least
     `price_bump_percent` higher, and always higher (ReplacementUnderpriced);
  4. at most `max_per_sender` transactions per sender (SenderQueueFull) and
     `max_txs` in all (MempoolFull).

`take` picks executable transactions across senders by `rank` (here: arrival)
while keeping each sender's nonces in order (a heap over each sender's next
transaction). Upkeep: `remove_hashes` after a block, `drop_stale` /
`sync_accounts` when the head moves (a sender's account changed: its stale
transactions go). Every transaction that leaves the pool without being taken
into a block is reported once, with its reason, by `take_drops`.
"""

from __future__ import annotations

import enum
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from node.envelope import Recovered
from node.mempool_errors import (
    AlreadyKnown,
    MempoolFull,
    NonceGapTooLarge,
    ReplacementUnderpriced,
    SenderQueueFull,
    Wording,
)
from node.state.schema import Account
from node.stf.errors import NonceTooLow
from node.stf.ledger import compute_envelope_cost

StateNonceOf = Callable[[bytes], int]
Exclude = Callable[[bytes], bool]
CostOf = Callable[[Any], int]  # a signed transaction -> what its sender must hold for it
Rank = tuple[int, ...]  # lower is taken first
R = TypeVar(
    "R", bound=Recovered[Any]
)  # the chain's recovered transaction (node.tx.RecoveredTx, l1.chain.tx.RecoveredL1Tx)


@dataclass(frozen=True, slots=True)
class PoolRules:
    """What the core enforces, and whose words its refusals use."""

    max_txs: int
    max_per_sender: int
    max_nonce_gap: int
    price_bump_percent: int = 0
    wording: Wording = Wording.SEQUENCER

    def compute_replacement_fee(self, fee: int) -> int:
        """The lowest fee that replaces a transaction paying `fee`: a bump of price_bump_percent, and more."""
        return max(fee + 1, -(-fee * (100 + self.price_bump_percent) // 100))


@dataclass(frozen=True, slots=True)
class PoolEntry(Generic[R]):
    rtx: R
    nonce: int
    fee: int
    cost: int  # what the sender must hold for it (fee + value, or fee + the kind's cost)
    priority: int  # lower goes first (the sequencer's lane; 0 in the core)
    seq: int  # arrival order: breaks ties first-come first-served
    added_ms: int


class DropReason(enum.StrEnum):
    """Why a transaction left a pool without being taken into a block (rollup_getTransactionStatus).

    The core drops for REPLACED and STALE; the rest are the sequencer's.
    """

    REPLACED = "replaced"  # the same (sender, nonce) with a higher fee
    EVICTED = "evicted"  # made room for a better-ranked one, or trimmed to a cap
    EXPIRED = "expired"  # queued longer than queued_lifetime_ms
    UNPAYABLE = "unpayable"  # the sender's balance at the head no longer covers it
    STALE = "stale"  # its nonce was used by another transaction
    REJECTED = "rejected"  # the block builder found it invalid (sequencer.txpool)
    INVALID = "invalid"  # no longer valid when the journal was replayed (sequencer.txpool)
    REORGED = (
        "reorged"  # its block was replaced by the L1-derived chain and it could not be re-queued (sequencer.healing)
    )


@dataclass(frozen=True, slots=True)
class Drop(Generic[R]):
    rtx: R
    reason: DropReason
    detail: str


@dataclass(frozen=True, slots=True)
class Admission(Generic[R]):
    """What `add` did: the entry added, and what it pushed out (if anything)."""

    entry: PoolEntry[R]
    replaced: R | None = None
    evicted: R | None = None


class SenderQueue(Generic[R]):
    """A sender's transactions by nonce, its account at the head, and counts kept up to date by the pool."""

    __slots__ = ("account", "txs", "cost", "run", "queued", "top", "stamp")

    def __init__(self, account: Account) -> None:
        self.account = account
        self.txs: dict[int, PoolEntry[R]] = {}
        self.cost = 0  # sum of the entries' costs
        self.run = 0  # pending: account.nonce .. account.nonce + run - 1 are all here
        self.queued = 0  # len(txs) - run, as counted in the pool's total
        self.top = -1  # highest nonce
        self.stamp = 0  # changes with every change to the queue (an index item is valid while it matches)

    def tail(self) -> PoolEntry[R]:
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


class NoncePool(Generic[R]):
    def __init__(self, rules: PoolRules, cost_of: CostOf = compute_envelope_cost) -> None:
        self.rules = rules
        self.cost_of = cost_of
        self._senders: dict[bytes, SenderQueue[R]] = {}
        self._by_hash: dict[bytes, PoolEntry[R]] = {}  # insertion order = arrival order
        self._queued_total = 0
        self._with_queued: set[bytes] = set()
        self._drops: list[Drop[R]] = []
        self._seq: Iterator[int] = itertools.count()
        self._stamps: Iterator[int] = itertools.count(1)

    # -- reads --

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> R | None:
        entry = self._by_hash.get(tx_hash)
        return None if entry is None else entry.rtx

    def entry(self, tx_hash: bytes) -> PoolEntry[R] | None:
        return self._by_hash.get(tx_hash)

    def entries(self) -> list[PoolEntry[R]]:
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

    def next_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The account nonce plus the run of consecutive pooled nonces from it."""
        state = self._senders.get(sender)
        nonce = account_nonce
        while state is not None and nonce in state.txs:
            nonce += 1
        return nonce

    def take_drops(self) -> list[Drop[R]]:
        """Transactions that left the pool without being taken into a block since the last call."""
        drops, self._drops = self._drops, []
        return drops

    # -- admission --

    def add(self, rtx: R, account: Account, now_ms: int = 0) -> Admission[R]:
        """Admit `rtx` given its sender's account at the head; raise a MempoolError (or NonceTooLow)."""
        tx, sender = rtx.tx, rtx.sender
        self.validate_unknown(rtx.hash)
        state = self._sender_at(sender, account)
        self.validate_nonce_window(sender, tx.nonce, account)
        current = None if state is None else state.txs.get(tx.nonce)
        if state is not None and current is not None:
            self.validate_replacement_fee(current, tx.fee)
            entry = self._new_entry(rtx, self.cost_of(tx), 0, now_ms)
            self._swap(sender, state, current, entry)
            return Admission(entry, replaced=current.rtx)
        self.validate_sender_cap(sender, 0 if state is None else len(state.txs), self.rules.max_per_sender)
        if len(self._by_hash) >= self.rules.max_txs:
            raise MempoolFull(self.rules.max_txs, tx.fee, None, wording=self.rules.wording)
        entry = self._new_entry(rtx, self.cost_of(tx), 0, now_ms)
        self._insert(sender, state, account, entry)
        return Admission(entry)

    def validate_unknown(self, tx_hash: bytes) -> None:
        if tx_hash in self._by_hash:
            raise AlreadyKnown(tx_hash, wording=self.rules.wording)

    def validate_nonce_window(self, sender: bytes, nonce: int, account: Account) -> None:
        if nonce < account.nonce:
            raise NonceTooLow(sender, account.nonce, nonce)
        if nonce - account.nonce > self.rules.max_nonce_gap:
            raise NonceGapTooLarge(sender, account.nonce, nonce, self.rules.max_nonce_gap, wording=self.rules.wording)

    def validate_replacement_fee(self, current: PoolEntry[R], fee: int) -> None:
        need = self.rules.compute_replacement_fee(current.fee)
        if fee < need:
            rules = self.rules
            raise ReplacementUnderpriced(
                current.nonce, current.fee, need, fee, rules.price_bump_percent, wording=rules.wording
            )

    def validate_sender_cap(self, sender: bytes, count: int, cap: int, what: str = "transactions") -> None:
        if count >= cap:
            raise SenderQueueFull(sender, cap, what, wording=self.rules.wording)

    def _sender_at(self, sender: bytes, account: Account) -> SenderQueue[R] | None:
        """The sender's queue brought up to `account` (None if it has nothing pooled)."""
        state = self._senders.get(sender)
        if state is not None and state.account != account:
            self._resync(sender, state, account)
            state = self._senders.get(sender)
        return state

    def _new_entry(self, rtx: R, cost: int, priority: int, now_ms: int) -> PoolEntry[R]:
        return PoolEntry(rtx, rtx.tx.nonce, rtx.tx.fee, cost, priority, next(self._seq), now_ms)

    def _swap(self, sender: bytes, state: SenderQueue[R], current: PoolEntry[R], entry: PoolEntry[R]) -> None:
        """`entry` replaces `current` (same sender and nonce)."""
        self._drop(state, current, DropReason.REPLACED, f"replaced by 0x{entry.rtx.hash.hex()} paying {entry.fee}")
        self._attach(state, entry)
        self._refresh(sender, state)

    def _insert(self, sender: bytes, state: SenderQueue[R] | None, account: Account, entry: PoolEntry[R]) -> None:
        if state is None:
            state = self._senders[sender] = SenderQueue(account)
        self._attach(state, entry)
        self._refresh(sender, state)

    # -- bookkeeping: every change to a sender goes through _attach/_detach, then _refresh --

    def _attach(self, state: SenderQueue[R], entry: PoolEntry[R]) -> None:
        state.txs[entry.nonce] = entry
        state.cost += entry.cost
        state.top = max(state.top, entry.nonce)
        self._by_hash[entry.rtx.hash] = entry

    def _detach(self, state: SenderQueue[R], entry: PoolEntry[R]) -> None:
        del state.txs[entry.nonce]
        state.cost -= entry.cost
        del self._by_hash[entry.rtx.hash]
        if entry.nonce == state.top:
            state.top = max(state.txs) if state.txs else -1

    def _drop(self, state: SenderQueue[R], entry: PoolEntry[R], reason: DropReason, detail: str) -> None:
        self._detach(state, entry)
        self._drops.append(Drop(entry.rtx, reason, detail))

    def _refresh(self, sender: bytes, state: SenderQueue[R]) -> None:
        """Recount the sender's pending run and queued count; index it again (or forget the sender)."""
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
        self._index(sender, state)

    def _index(self, sender: bytes, state: SenderQueue[R]) -> None:
        """A sender's queue changed (and is not empty): a subclass's indexes follow it here."""

    # -- when the head moves --

    def sync_accounts(self, accounts: Mapping[bytes, Account]) -> None:
        """Senders' accounts at the new head: each changed one loses its stale (and, in a subclass, unpayable) ones."""
        if len(accounts) > len(self._senders):
            pairs = [(s, accounts[s]) for s in self._senders if s in accounts]
        else:
            pairs = [(s, a) for s, a in accounts.items() if s in self._senders]
        for sender, account in pairs:
            state = self._senders[sender]
            if state.account != account:
                self._resync(sender, state, account)

    def drop_stale(self, state_nonce_of: StateNonceOf, senders: Iterable[bytes] | None = None) -> list[R]:
        """Drop transactions whose nonce is below their sender's state nonce; return them."""
        dropped: list[R] = []
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

    def _resync(self, sender: bytes, state: SenderQueue[R], account: Account) -> None:
        state.account = account
        for entry in [e for n, e in state.txs.items() if n < account.nonce]:
            self._drop(
                state, entry, DropReason.STALE, f"nonce {entry.nonce} was used (account nonce is {account.nonce})"
            )
        self._drop_unpayable(state)
        self._refresh(sender, state)

    def _drop_unpayable(self, state: SenderQueue[R]) -> None:
        """The core keeps no balances: a subclass that does drops what the account no longer pays for."""

    # -- selection --

    def rank(self, entry: PoolEntry[R]) -> Rank:
        """The order `take` picks executable transactions in (across senders): arrival."""
        return (entry.seq,)

    def take(self, max_count: int, state_nonce_of: StateNonceOf, exclude: Exclude | None = None) -> list[R]:
        """Up to `max_count` executable transactions by rank, each sender's in nonce order.

        Nothing is removed: call `remove_hashes` once the block is sealed.
        Senders for which `exclude(sender)` is true are skipped.
        """
        heap: list[tuple[Rank, bytes, int]] = []
        for sender, state in self._senders.items():
            if exclude is not None and exclude(sender):
                continue
            first = state.txs.get(state_nonce_of(sender))
            if first is not None:
                heap.append((self.rank(first), sender, first.nonce))
        heapq.heapify(heap)
        chosen: list[R] = []
        while heap and len(chosen) < max_count:
            _, sender, nonce = heapq.heappop(heap)
            txs = self._senders[sender].txs
            chosen.append(txs[nonce].rtx)
            following = txs.get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, (self.rank(following), sender, following.nonce))
        return chosen

    # -- after a block --

    def remove_included(self, txs: Iterable[R]) -> int:
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


__all__ = [
    "Admission",
    "CostOf",
    "Drop",
    "DropReason",
    "Exclude",
    "NoncePool",
    "PoolEntry",
    "PoolRules",
    "Rank",
    "SenderQueue",
    "StateNonceOf",
]
