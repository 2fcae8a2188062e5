"""The sequencer's mempool: per-sender nonce queues and fee-priority selection.

Pure and synchronous (no clock, no I/O). The state nonce of an account is
passed in as a function, so the pool never reads the chain itself.

- A sender's transactions are kept by nonce. Those whose nonces run without
  a gap from the sender's state nonce are *pending* (executable); the rest are
  *queued* (held back until the gap fills), at most `max_nonce_gap` ahead.
- The same (sender, nonce) is replaced only by a strictly higher fee.
- Caps: `max_per_sender` per sender, `max_txs` in all. A full pool takes a
  new transaction only if it outbids the cheapest evictable one: the last
  (highest-nonce) transaction of another sender, so eviction never opens a
  gap in anyone's queue.
- `take` picks executable transactions by fee across senders while keeping
  each sender's nonces in order (a heap over each sender's next transaction).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Iterator

from node.crypto import to_checksum_address
from node.stf.errors import NonceTooLow
from node.tx import MAX_TX_BYTES, RecoveredTx, SignedTx

StateNonceOf = Callable[[bytes], int]
Exclude = Callable[[bytes], bool]

DEFAULT_MAX_TXS = 10_000
DEFAULT_MAX_PER_SENDER = 64
DEFAULT_MAX_NONCE_GAP = 64


# -- errors -------------------------------------------------------------------------------


class MempoolError(Exception):
    """The mempool refuses a transaction; `rpc_code` is its JSON-RPC error code."""

    rpc_code: ClassVar[int] = -32020


class MempoolFull(MempoolError):
    rpc_code = -32020

    def __init__(self, capacity: int, fee: int, cheapest: int | None) -> None:
        self.capacity, self.fee, self.cheapest = capacity, fee, cheapest
        floor = "nothing is evictable" if cheapest is None else f"need a fee > {cheapest} to evict the cheapest"
        super().__init__(f"mempool full: {capacity} transactions; fee {fee} does not outbid ({floor})")


class SenderQueueFull(MempoolError):
    rpc_code = -32021

    def __init__(self, sender: bytes, cap: int) -> None:
        self.sender, self.cap = sender, cap
        super().__init__(f"sender queue full: {to_checksum_address(sender)} already has {cap} transactions in the mempool")


class ReplacementUnderpriced(MempoolError):
    rpc_code = -32022

    def __init__(self, have: int, offered: int) -> None:
        self.have, self.offered = have, offered
        super().__init__(f"replacement fee too low: have {have}, need > {have} (offered {offered})")


class AlreadyKnown(MempoolError):
    rpc_code = -32023

    def __init__(self, tx_hash: bytes) -> None:
        self.tx_hash = tx_hash
        super().__init__(f"already known: transaction 0x{tx_hash.hex()} is in the mempool")


class NonceGapTooLarge(MempoolError):
    rpc_code = -32024

    def __init__(self, sender: bytes, state_nonce: int, nonce: int, max_gap: int) -> None:
        self.sender, self.state_nonce, self.nonce, self.max_gap = sender, state_nonce, nonce, max_gap
        super().__init__(
            f"nonce gap too large: account {to_checksum_address(sender)} has nonce {state_nonce}, "
            f"transaction has {nonce} (at most {max_gap} ahead)"
        )


class TransactionTooLarge(MempoolError):
    rpc_code = -32025

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"transaction too large: {size} bytes, limit is {limit}")


# -- values -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = DEFAULT_MAX_TXS
    max_per_sender: int = DEFAULT_MAX_PER_SENDER
    max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP
    max_tx_bytes: int = MAX_TX_BYTES

    def __post_init__(self) -> None:
        for name in ("max_txs", "max_per_sender", "max_tx_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"mempool {name} must be at least 1")
        if self.max_nonce_gap < 0:
            raise ValueError("mempool max_nonce_gap must not be negative")


@dataclass(frozen=True, slots=True)
class PoolEntry:
    rtx: RecoveredTx
    nonce: int
    fee: int
    seq: int  # arrival order: breaks fee ties first-come first-served


@dataclass(frozen=True, slots=True)
class Admission:
    """What `add` did: the entry added, and what it pushed out (if anything)."""

    entry: PoolEntry
    replaced: RecoveredTx | None = None
    evicted: RecoveredTx | None = None


@dataclass(frozen=True, slots=True)
class PoolStatus:
    pending: int
    queued: int
    capacity: int


def signed_fields(rtx: RecoveredTx) -> SignedTx:
    if not isinstance(rtx.tx, SignedTx):
        raise TypeError("only signed user transactions go into the mempool")
    return rtx.tx


# -- the pool -----------------------------------------------------------------------------


Priority = Callable[[RecoveredTx], int]


def no_priority(rtx: RecoveredTx) -> int:
    return 0


class Mempool:
    """`priority(rtx)`: lower goes first, before fees (the venue puts oracle updates at 0, so they
    lead every block even when the mempool is saturated); within a priority, higher fee first."""

    def __init__(self, limits: MempoolLimits = MempoolLimits(), priority: Priority = no_priority) -> None:
        self.limits = limits
        self.priority = priority
        self._by_sender: dict[bytes, dict[int, PoolEntry]] = {}
        self._by_hash: dict[bytes, PoolEntry] = {}
        self._seq: Iterator[int] = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> RecoveredTx | None:
        entry = self._by_hash.get(tx_hash)
        return None if entry is None else entry.rtx

    def senders(self) -> list[bytes]:
        return list(self._by_sender)

    # -- admission --

    def validate_size(self, size: int) -> None:
        if size > self.limits.max_tx_bytes:
            raise TransactionTooLarge(size, self.limits.max_tx_bytes)

    def add(self, rtx: RecoveredTx, state_nonce: int) -> Admission:
        """Admit `rtx` given its sender's state nonce; raise a MempoolError (or NonceTooLow)."""
        tx = signed_fields(rtx)
        self.validate_size(len(rtx.raw))
        self._validate_new(rtx, tx, state_nonce)
        queue = self._by_sender.get(rtx.sender, {})
        current = queue.get(tx.nonce)
        if current is not None:
            return self._replace(rtx, tx, current)
        if len(queue) >= self.limits.max_per_sender:
            raise SenderQueueFull(rtx.sender, self.limits.max_per_sender)
        evicted = self._make_room(rtx, tx.fee) if len(self) >= self.limits.max_txs else None
        entry = self._insert(rtx, tx)
        return Admission(entry, evicted=evicted)

    def _validate_new(self, rtx: RecoveredTx, tx: SignedTx, state_nonce: int) -> None:
        if rtx.hash in self._by_hash:
            raise AlreadyKnown(rtx.hash)
        if tx.nonce < state_nonce:
            raise NonceTooLow(rtx.sender, state_nonce, tx.nonce)
        if tx.nonce - state_nonce > self.limits.max_nonce_gap:
            raise NonceGapTooLarge(rtx.sender, state_nonce, tx.nonce, self.limits.max_nonce_gap)

    def _replace(self, rtx: RecoveredTx, tx: SignedTx, current: PoolEntry) -> Admission:
        if tx.fee <= current.fee:
            raise ReplacementUnderpriced(current.fee, tx.fee)
        self._remove_entry(current)
        return Admission(self._insert(rtx, tx), replaced=current.rtx)

    def _make_room(self, rtx: RecoveredTx, fee: int) -> RecoveredTx:
        """Evict the worst tail (lowest priority, then lowest fee) if `rtx` ranks strictly above it: a full
        pool of ordinary orders still admits an oracle update, whatever its fee."""
        victim = self._worst_tail(excluding=rtx.sender)
        rank = self.priority(rtx)
        if victim is None or (rank, -fee) >= (self.priority(victim.rtx), -victim.fee):
            raise MempoolFull(self.limits.max_txs, fee, None if victim is None else victim.fee)
        self._remove_entry(victim)
        return victim.rtx

    def _worst_tail(self, excluding: bytes) -> PoolEntry | None:
        """The last transaction of any other sender with the lowest priority, then the lowest fee, then the
        latest arrival."""
        best: PoolEntry | None = None
        best_key: tuple[int, int, int] | None = None
        for sender, queue in self._by_sender.items():
            if sender == excluding:
                continue
            tail = queue[max(queue)]
            key = (-self.priority(tail.rtx), tail.fee, -tail.seq)
            if best_key is None or key < best_key:
                best, best_key = tail, key
        return best

    def _insert(self, rtx: RecoveredTx, tx: SignedTx) -> PoolEntry:
        entry = PoolEntry(rtx, tx.nonce, tx.fee, next(self._seq))
        self._by_sender.setdefault(rtx.sender, {})[tx.nonce] = entry
        self._by_hash[rtx.hash] = entry
        return entry

    def _remove_entry(self, entry: PoolEntry) -> None:
        sender = entry.rtx.sender
        queue = self._by_sender.get(sender)
        if queue is None or queue.get(entry.nonce) is not entry:
            return
        del queue[entry.nonce]
        del self._by_hash[entry.rtx.hash]
        if not queue:
            del self._by_sender[sender]

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
            queue = self._by_sender[sender]
            chosen.append(queue[nonce].rtx)
            following = queue.get(nonce + 1)
            if following is not None:
                heapq.heappush(heap, self._heap_item(sender, following))
        return chosen

    def _heap_item(self, sender: bytes, entry: PoolEntry) -> tuple[int, int, int, bytes, int]:
        return (self.priority(entry.rtx), -entry.fee, entry.seq, sender, entry.nonce)

    def _heads(self, state_nonce_of: StateNonceOf, exclude: Exclude | None) -> list[tuple[int, int, int, bytes, int]]:
        heap = []
        for sender, queue in self._by_sender.items():
            if exclude is not None and exclude(sender):
                continue
            first = queue.get(state_nonce_of(sender))
            if first is not None:
                heap.append(self._heap_item(sender, first))
        heapq.heapify(heap)
        return heap

    # -- after a block --

    def remove_included(self, txs: Iterable[RecoveredTx]) -> int:
        """Forget transactions that made it into a block (or were rejected); return how many."""
        return self.remove_hashes(rtx.hash for rtx in txs)

    def remove_hashes(self, hashes: Iterable[bytes]) -> int:
        removed = 0
        for tx_hash in hashes:
            entry = self._by_hash.get(tx_hash)
            if entry is not None:
                self._remove_entry(entry)
                removed += 1
        return removed

    def drop_stale(self, state_nonce_of: StateNonceOf, senders: Iterable[bytes] | None = None) -> list[RecoveredTx]:
        """Remove transactions whose nonce is below their sender's state nonce; return them."""
        dropped: list[RecoveredTx] = []
        for sender in list(self._by_sender if senders is None else senders):
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            state_nonce = state_nonce_of(sender)
            for entry in [e for n, e in queue.items() if n < state_nonce]:
                self._remove_entry(entry)
                dropped.append(entry.rtx)
        return dropped

    # -- inspection --

    def status(self, state_nonce_of: StateNonceOf) -> PoolStatus:
        pending = sum(self._pending_count(queue, state_nonce_of(sender)) for sender, queue in self._by_sender.items())
        return PoolStatus(pending, len(self) - pending, self.limits.max_txs)

    @staticmethod
    def _pending_count(queue: dict[int, PoolEntry], state_nonce: int) -> int:
        count = 0
        while state_nonce + count in queue:
            count += 1
        return count


__all__ = [
    "Admission",
    "AlreadyKnown",
    "Mempool",
    "MempoolError",
    "MempoolFull",
    "MempoolLimits",
    "NonceGapTooLarge",
    "PoolEntry",
    "PoolStatus",
    "ReplacementUnderpriced",
    "SenderQueueFull",
    "TransactionTooLarge",
]
