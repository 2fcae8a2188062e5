"""The L1 mempool: pending transactions per sender, ordered by nonce, in memory only.

Rules (checked by `add`, after the chain has validated signature, chain id,
fee, nonce >= account nonce and balance):
- at most `max_txs` in total (MempoolFull) and `max_per_sender` per sender (SenderQueueFull);
- a nonce at most `max_per_sender` ahead of the account nonce (NonceGapTooLarge);
  a transaction behind a gap is held until the gap fills;
- the same hash again is AlreadyKnown; the same sender and nonce with a strictly
  higher fee replaces the pending one, otherwise ReplacementFeeTooLow.

`select` hands a block the executable transactions: per sender the run of
consecutive nonces from the account nonce, merged across senders by arrival.

Like anvil's, this mempool is not persisted: transactions acknowledged by
l1_sendRawTransaction but not yet in a block are lost if the process dies.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable

from node.crypto import Address, Hash32
from l1.chain.config import MempoolLimits
from l1.chain.errors import AlreadyKnown, MempoolFull, NonceGapTooLarge, ReplacementFeeTooLow, SenderQueueFull
from l1.chain.tx import RecoveredL1Tx

NonceOf = Callable[[Address], int]


@dataclass(frozen=True, slots=True)
class PendingTx:
    rtx: RecoveredL1Tx
    seq: int  # arrival order

    @property
    def nonce(self) -> int:
        return self.rtx.tx.nonce

    @property
    def fee(self) -> int:
        return self.rtx.tx.fee


class Mempool:
    def __init__(self, limits: MempoolLimits) -> None:
        self.limits = limits
        self._by_sender: dict[Address, dict[int, PendingTx]] = {}
        self._by_hash: dict[Hash32, PendingTx] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, tx_hash: object) -> bool:
        return tx_hash in self._by_hash

    def get(self, tx_hash: bytes) -> RecoveredL1Tx | None:
        pending = self._by_hash.get(Hash32(tx_hash))
        return None if pending is None else pending.rtx

    def add(self, rtx: RecoveredL1Tx, account_nonce: int) -> RecoveredL1Tx | None:
        """Add a transaction whose nonce is >= `account_nonce`; return the one it replaced, if any."""
        if rtx.hash in self._by_hash:
            raise AlreadyKnown(rtx.hash)
        self.validate_nonce_window(rtx, account_nonce)
        queue = self._by_sender.get(rtx.sender, {})
        existing = queue.get(rtx.tx.nonce)
        if existing is not None:
            return self.process_replacement(existing, rtx)
        self.validate_capacity(rtx.sender, queue)
        self._insert(rtx)
        return None

    def validate_nonce_window(self, rtx: RecoveredL1Tx, account_nonce: int) -> None:
        limit = self.limits.max_per_sender
        if rtx.tx.nonce >= account_nonce + limit:
            raise NonceGapTooLarge(rtx.sender, account_nonce, rtx.tx.nonce, limit)

    def validate_capacity(self, sender: Address, queue: dict[int, PendingTx]) -> None:
        if len(queue) >= self.limits.max_per_sender:
            raise SenderQueueFull(sender, self.limits.max_per_sender)
        if len(self._by_hash) >= self.limits.max_txs:
            raise MempoolFull(self.limits.max_txs)

    def process_replacement(self, existing: PendingTx, rtx: RecoveredL1Tx) -> RecoveredL1Tx:
        if rtx.tx.fee <= existing.fee:
            raise ReplacementFeeTooLow(rtx.tx.nonce, existing.fee, rtx.tx.fee)
        self._remove(existing)
        self._insert(rtx)
        return existing.rtx

    def next_nonce(self, sender: Address, account_nonce: int) -> int:
        """The account nonce plus the run of consecutive pending nonces from it."""
        queue = self._by_sender.get(sender, {})
        nonce = account_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def select(self, nonce_of: NonceOf, max_txs: int) -> list[RecoveredL1Tx]:
        """Executable transactions in arrival order, each sender's in nonce order, at most `max_txs`."""
        heap: list[tuple[int, Address, int]] = []
        for sender, queue in self._by_sender.items():
            nonce = nonce_of(sender)
            head = queue.get(nonce)
            if head is not None:
                heap.append((head.seq, sender, nonce))
        heapq.heapify(heap)
        selected: list[RecoveredL1Tx] = []
        while heap and len(selected) < max_txs:
            _, sender, nonce = heapq.heappop(heap)
            queue = self._by_sender[sender]
            selected.append(queue[nonce].rtx)
            successor = queue.get(nonce + 1)
            if successor is not None:
                heapq.heappush(heap, (successor.seq, sender, nonce + 1))
        return selected

    def remove_hashes(self, hashes: Iterable[bytes]) -> None:
        for tx_hash in hashes:
            pending = self._by_hash.get(Hash32(tx_hash))
            if pending is not None:
                self._remove(pending)

    def prune_stale(self, senders: Iterable[Address], nonce_of: NonceOf) -> int:
        """Drop the given senders' transactions whose nonce is below the account nonce; return how many."""
        removed = 0
        for sender in set(senders):
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            account_nonce = nonce_of(sender)
            for pending in [p for n, p in queue.items() if n < account_nonce]:
                self._remove(pending)
                removed += 1
        return removed

    def _insert(self, rtx: RecoveredL1Tx) -> None:
        pending = PendingTx(rtx, next(self._seq))
        self._by_sender.setdefault(rtx.sender, {})[rtx.tx.nonce] = pending
        self._by_hash[rtx.hash] = pending

    def _remove(self, pending: PendingTx) -> None:
        sender = pending.rtx.sender
        queue = self._by_sender.get(sender, {})
        if queue.get(pending.nonce) is pending:
            del queue[pending.nonce]
            if not queue:
                del self._by_sender[sender]
        self._by_hash.pop(pending.rtx.hash, None)
