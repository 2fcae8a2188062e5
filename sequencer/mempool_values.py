"""The mempool's values: its limits, its entries, what `add` did and why a transaction was dropped.

Frozen dataclasses and pure helpers; the pool itself is sequencer.mempool.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from node.stf import get_handler
from node.tx import MAX_TX_BYTES, RecoveredTx, SignedTx

StateNonceOf = Callable[[bytes], int]
Exclude = Callable[[bytes], bool]
Priority = Callable[[RecoveredTx], int]
CostOf = Callable[[SignedTx], int]

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

    def compute_replacement_fee(self, fee: int) -> int:
        """The lowest fee that replaces a transaction paying `fee`: a bump of price_bump_percent, and more."""
        return max(fee + 1, -(-fee * (100 + self.price_bump_percent) // 100))


@dataclass(frozen=True, slots=True)
class PoolEntry:
    rtx: RecoveredTx
    nonce: int
    fee: int
    cost: int  # fee + the kind's cost: what the sender must hold for it
    priority: int  # lower goes first
    seq: int  # arrival order: breaks ties first-come first-served
    added_ms: int


class DropReason(enum.StrEnum):
    """Why a transaction left the pool without being taken into a block (rollup_getTransactionStatus)."""

    REPLACED = "replaced"  # the same (sender, nonce) with a higher fee
    EVICTED = "evicted"  # made room for a better-ranked one, or trimmed to a cap
    EXPIRED = "expired"  # queued longer than queued_lifetime_ms
    UNPAYABLE = "unpayable"  # the sender's balance at the head no longer covers it
    STALE = "stale"  # its nonce was used by another transaction
    REJECTED = "rejected"  # the block builder found it invalid (sequencer.txpool)
    INVALID = "invalid"  # no longer valid when the journal was replayed (sequencer.txpool)
    REORGED = "reorged"  # its block was replaced by the L1-derived chain and it could not be re-queued (sequencer.healing)


@dataclass(frozen=True, slots=True)
class Drop:
    rtx: RecoveredTx
    reason: DropReason
    detail: str


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
