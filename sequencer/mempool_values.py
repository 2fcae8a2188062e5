"""The sequencer's mempool values: its limits, its status, its priority lane and what a transaction costs.

Frozen dataclasses and pure helpers; the pool itself is sequencer.mempool.
Entries, drops and admissions are the mempool core's (node.mempool).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from node.mempool import PoolRules
from node.mempool_errors import Wording
from node.stf import get_handler
from node.tx import MAX_TX_BYTES, RecoveredTx, SignedTx

Priority = Callable[[RecoveredTx], int]

DEFAULT_MAX_TXS = 10_000
DEFAULT_QUEUED_SHARE = 4  # without an explicit cap, queued transactions hold at most 1/4 of the pool
DEFAULT_MAX_PENDING_PER_SENDER = 64
DEFAULT_MAX_QUEUED_PER_SENDER = 16
DEFAULT_MAX_NONCE_GAP = 64
DEFAULT_PRICE_BUMP_PERCENT = 10  # geth's txpool.pricebump
DEFAULT_QUEUED_LIFETIME_MS = 60_000


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = DEFAULT_MAX_TXS
    max_queued: int | None = None  # None: max_txs // DEFAULT_QUEUED_SHARE (at least 1)
    max_pending_per_sender: int = DEFAULT_MAX_PENDING_PER_SENDER
    max_queued_per_sender: int = DEFAULT_MAX_QUEUED_PER_SENDER
    max_nonce_gap: int = DEFAULT_MAX_NONCE_GAP
    max_tx_bytes: int = MAX_TX_BYTES
    price_bump_percent: int = DEFAULT_PRICE_BUMP_PERCENT
    queued_lifetime_ms: int = DEFAULT_QUEUED_LIFETIME_MS

    def __post_init__(self) -> None:
        for name in ("max_txs", "max_pending_per_sender", "max_tx_bytes", "queued_lifetime_ms"):
            if getattr(self, name) < 1:
                raise ValueError(f"mempool {name} must be at least 1")
        for name in ("max_nonce_gap", "max_queued_per_sender", "price_bump_percent"):
            if getattr(self, name) < 0:
                raise ValueError(f"mempool {name} must not be negative")
        if self.max_queued is not None and not 0 <= self.max_queued <= self.max_txs:
            raise ValueError(f"mempool max_queued must be in [0, max_txs = {self.max_txs}]")

    @property
    def queued_capacity(self) -> int:
        return max(1, self.max_txs // DEFAULT_QUEUED_SHARE) if self.max_queued is None else self.max_queued

    @property
    def pool_rules(self) -> PoolRules:
        """The core's share of these limits (the per-sender cap there is the pending one)."""
        return PoolRules(
            self.max_txs, self.max_pending_per_sender, self.max_nonce_gap, self.price_bump_percent, Wording.SEQUENCER
        )

    def compute_replacement_fee(self, fee: int) -> int:
        """The lowest fee that replaces a transaction paying `fee`: a bump of price_bump_percent, and more."""
        return self.pool_rules.compute_replacement_fee(fee)


@dataclass(frozen=True, slots=True)
class PoolStatus:
    pending: int
    queued: int
    capacity: int
    queued_capacity: int


def signed_fields(rtx: RecoveredTx) -> SignedTx:
    if not isinstance(rtx.tx, SignedTx):
        raise TypeError("only signed user transactions go into the mempool")
    return rtx.tx


def no_priority(rtx: RecoveredTx) -> int:
    return 0


def compute_tx_cost(tx: SignedTx) -> int:
    """What the sender must hold for `tx` (as the state transition checks it): fee + the kind's cost."""
    return tx.fee + get_handler(type(tx.payload)).cost(tx.payload)
