"""How long a transaction waits between reaching the sequencer and its soft confirmation.

Soft confirmation: the block holding the transaction is sealed, committed to
the chain store (the write every acknowledgement waits for) and announced
(receipt waiters answered, newHeads published). The sequencer's RPC notes
when a submission reached it, before sender recovery (`arrived`); after each
sealed block `sealed` returns the seconds each noted transaction of the block
waited, and forgets it. The process exports these as the histogram
`tx_soft_confirm_seconds`, a figure the sequencer measures itself, free of a
benchmark client's own scheduling delays.

Bounded: a transaction that never reaches a block (refused, dropped) is
forgotten when refused, or pushed out as the oldest note once `capacity`
notes are held.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

DEFAULT_CAPACITY = 100_000


class SoftLatency:
    def __init__(self, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.perf_counter) -> None:
        if capacity < 1:
            raise ValueError("SoftLatency capacity must be at least 1")
        self.capacity = capacity
        self.clock = clock
        self._arrived: dict[bytes, float] = {}  # insertion order = arrival order

    def __len__(self) -> int:
        return len(self._arrived)

    def now(self) -> float:
        return self.clock()

    def arrived(self, tx_hash: bytes, at: float) -> None:
        """Note that `tx_hash` reached the sequencer at `at` (a `now()` reading); the first note counts."""
        if tx_hash in self._arrived:
            return
        if len(self._arrived) >= self.capacity:
            del self._arrived[next(iter(self._arrived))]
        self._arrived[tx_hash] = at

    def forget(self, tx_hash: bytes) -> None:
        self._arrived.pop(tx_hash, None)

    def sealed(self, tx_hashes: Iterable[bytes]) -> list[float]:
        """Seconds from arrival to now for each noted transaction in `tx_hashes` (the others are skipped)."""
        if not self._arrived:
            return []
        now = self.clock()
        waited = []
        for tx_hash in tx_hashes:
            at = self._arrived.pop(tx_hash, None)
            if at is not None:
                waited.append(now - at)
        return waited
