"""Why the sequencer's mempool refuses a transaction: typed errors with their JSON-RPC codes.

    MempoolError                 -32020..-32029 (docs/protocol.md section 6)
    ├── MempoolFull              -32020  no room, and the newcomer outranks nothing evictable
    ├── SenderQueueFull          -32021  the sender's pending or queued cap is reached
    ├── ReplacementUnderpriced   -32022  same (sender, nonce) without the required fee bump
    ├── AlreadyKnown             -32023  this exact transaction is in the mempool
    ├── NonceGapTooLarge         -32024  the nonce is too far ahead of the account's
    ├── TransactionTooLarge      -32025  above the size limit
    └── Overdraft                -32026  the sender's pooled transactions together cost more than its balance

A transaction that alone costs more than the balance is refused with the
state transition's InsufficientBalance (-32014), as the block builder would.
"""

from __future__ import annotations

from typing import ClassVar

from node.crypto import to_checksum_address


class MempoolError(Exception):
    """The mempool refuses a transaction; `rpc_code` is its JSON-RPC error code."""

    rpc_code: ClassVar[int] = -32020


class MempoolFull(MempoolError):
    rpc_code = -32020

    def __init__(self, capacity: int, fee: int, cheapest: int | None, what: str = "transactions") -> None:
        self.capacity, self.fee, self.cheapest = capacity, fee, cheapest
        floor = "nothing it outranks is evictable" if cheapest is None else f"need a fee > {cheapest} to evict the cheapest"
        super().__init__(f"mempool full: {capacity} {what}; fee {fee} does not outbid ({floor})")


class SenderQueueFull(MempoolError):
    rpc_code = -32021

    def __init__(self, sender: bytes, cap: int, what: str = "transactions") -> None:
        self.sender, self.cap = sender, cap
        super().__init__(f"sender queue full: {to_checksum_address(sender)} already has {cap} {what} in the mempool")


class ReplacementUnderpriced(MempoolError):
    rpc_code = -32022

    def __init__(self, have: int, need: int, offered: int, bump_percent: int) -> None:
        self.have, self.need, self.offered = have, need, offered
        super().__init__(
            f"replacement fee too low: have {have}, need >= {need} (a {bump_percent}% bump), offered {offered}"
        )


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


class Overdraft(MempoolError):
    """geth's ErrOverdraft: each transaction is affordable, all of the sender's together are not."""

    rpc_code = -32026

    def __init__(self, sender: bytes, balance: int, pooled: int, count: int, cost: int) -> None:
        self.sender, self.balance, self.pooled, self.count, self.cost = sender, balance, pooled, count, cost
        super().__init__(
            f"overdraft: account {to_checksum_address(sender)} has {balance}; its {count} pooled transaction(s) "
            f"cost {pooled} and this one {cost}"
        )


__all__ = [
    "AlreadyKnown",
    "MempoolError",
    "MempoolFull",
    "NonceGapTooLarge",
    "Overdraft",
    "ReplacementUnderpriced",
    "SenderQueueFull",
    "TransactionTooLarge",
]
