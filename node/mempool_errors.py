"""Why a mempool refuses a transaction: one set of typed errors with their JSON-RPC codes, for both chains.

    MempoolError                 -32020..-32029 (docs/protocol.md section 6)
    ├── MempoolFull              -32020  no room (the sequencer's: and the newcomer outranks nothing evictable)
    ├── SenderQueueFull          -32021  the sender's cap is reached
    ├── ReplacementUnderpriced   -32022  same (sender, nonce) without the required fee bump
    ├── AlreadyKnown             -32023  this exact transaction is in the mempool
    ├── NonceGapTooLarge         -32024  the nonce is too far ahead of the account's
    ├── TransactionTooLarge      -32025  above the size limit
    └── Overdraft                -32026  the sender's pooled transactions cost more than its balance (sequencer)

Both mempools raise these (the core, node.mempool; the L1 chain's pool,
l1.chain.mempool; the sequencer's, sequencer.mempool). Their messages are on
the wire and differ in words where the two pools always did: a refusal
takes the `Wording` of the pool that raises it (the rules' `wording`); the
class, its code and its fields are the same.

A transaction that alone costs more than the balance is refused with the
state transition's InsufficientBalance (-32014), as the block builder would.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from node.crypto import to_checksum_address


class Wording(enum.Enum):
    """Whose words a refusal's message uses: the sequencer's (the default) or the L1 chain's."""

    SEQUENCER = "sequencer"
    L1 = "l1"


def _restore(cls: type[MempoolError], args: tuple[Any, ...], state: dict[str, Any]) -> MempoolError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class MempoolError(Exception):
    """The mempool refuses a transaction; `rpc_code` is its JSON-RPC error code."""

    rpc_code: ClassVar[int] = -32020

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class MempoolFull(MempoolError):
    rpc_code = -32020

    def __init__(
        self,
        capacity: int,
        fee: int,
        cheapest: int | None,
        what: str = "transactions",
        *,
        wording: Wording = Wording.SEQUENCER,
    ) -> None:
        self.capacity, self.fee, self.cheapest = capacity, fee, cheapest
        if wording is Wording.L1:
            super().__init__(f"mempool full: {capacity} {what} pending")
            return
        floor = (
            "nothing it outranks is evictable" if cheapest is None else f"need a fee > {cheapest} to evict the cheapest"
        )
        super().__init__(f"mempool full: {capacity} {what}; fee {fee} does not outbid ({floor})")


class SenderQueueFull(MempoolError):
    rpc_code = -32021

    def __init__(
        self, sender: bytes, cap: int, what: str = "transactions", *, wording: Wording = Wording.SEQUENCER
    ) -> None:
        self.sender, self.cap = sender, cap
        if wording is Wording.L1:
            super().__init__(f"sender queue full: {to_checksum_address(sender)} has {cap} {what} pending")
            return
        super().__init__(f"sender queue full: {to_checksum_address(sender)} already has {cap} {what} in the mempool")


class ReplacementUnderpriced(MempoolError):
    rpc_code = -32022

    def __init__(
        self, nonce: int, have: int, need: int, offered: int, bump_percent: int, *, wording: Wording = Wording.SEQUENCER
    ) -> None:
        self.nonce, self.have, self.need, self.offered = nonce, have, need, offered
        if wording is Wording.L1:
            super().__init__(
                f"replacement fee too low: the pending transaction with nonce {nonce} pays {have}, "
                f"a replacement must pay more than that, this one pays {offered}"
            )
            return
        super().__init__(
            f"replacement fee too low: have {have}, need >= {need} (a {bump_percent}% bump), offered {offered}"
        )


class AlreadyKnown(MempoolError):
    rpc_code = -32023

    def __init__(self, tx_hash: bytes, *, wording: Wording = Wording.SEQUENCER) -> None:
        self.tx_hash = tx_hash
        where = "is pending or included" if wording is Wording.L1 else "is in the mempool"
        super().__init__(f"already known: transaction 0x{tx_hash.hex()} {where}")


class NonceGapTooLarge(MempoolError):
    rpc_code = -32024

    def __init__(
        self, sender: bytes, state_nonce: int, nonce: int, max_gap: int, *, wording: Wording = Wording.SEQUENCER
    ) -> None:
        self.sender, self.state_nonce, self.nonce, self.max_gap = sender, state_nonce, nonce, max_gap
        if wording is Wording.L1:  # the L1 counts the nonces it holds: the account's and max_gap more
            super().__init__(
                f"nonce gap too large: {to_checksum_address(sender)} has nonce {state_nonce}, "
                f"transaction has {nonce}, at most {max_gap + 1} ahead are held"
            )
            return
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
    "Wording",
]
