"""Typed errors of the L1 devnet, each with a JSON-RPC error code (docs/protocol.md section 6).

Transaction rejections shared with L2 (bad signature, wrong chain id, nonce,
fee, balance, malformed, unknown kind) reuse `node.stf.errors`. This module
adds:

    KindRuleError                -32060..-32093  the kind's rule failed: status-0 receipt
    ├── NotBatcher               -32060
    ├── BondTooLow               -32061  (also a dispute's counter-bond below proposer_bond)
    │                            -32062  retired (proposal out of order: proposals need no order now)
    ├── BatchTooLarge            -32063
    ├── NotProposer              -32088  only the permissioned proposer, until the fallback opens
    ├── L2BlockNotDerived        -32089  an output for an L2 block this L1's inbox has not derived
    ├── ForcedDeposit            -32093  a forced transaction that encodes a deposit
    └── (disputes, withdrawals)  -32064..-32087, -32090..-32092, in l1.dispute_errors
    MempoolError                 -32020..-32025  l1_sendRawTransaction refused it (not included)
    ├── MempoolFull              -32020
    ├── SenderQueueFull          -32021
    ├── ReplacementFeeTooLow     -32022
    ├── AlreadyKnown             -32023
    ├── NonceGapTooLarge         -32024
    └── TransactionTooLarge      -32025
    L1ChainError                           the chain store refuses an operation
    ├── TimestampNotIncreasing
    └── ChainConfigMismatch
"""

from __future__ import annotations

from typing import ClassVar

from node.crypto import to_checksum_address
from node.stf.errors import InvalidTransaction


class KindRuleError(Exception):
    """The transaction is valid but its kind's rule fails: included with status 0, nonce and fee consumed.

    Deliberately not an InvalidTransaction: such a transaction *is* included.
    """

    rpc_code: ClassVar[int] = -32060


class NotBatcher(KindRuleError):
    rpc_code = -32060

    def __init__(self, sender: bytes, batcher: bytes) -> None:
        self.sender, self.batcher = sender, batcher
        super().__init__(
            f"not the batcher: {to_checksum_address(sender)} may not post batches, "
            f"the batcher is {to_checksum_address(batcher)}"
        )


class BondTooLow(KindRuleError):
    rpc_code = -32061

    def __init__(self, bond: int, required: int) -> None:
        self.bond, self.required = bond, required
        super().__init__(f"bond too low: proposal carries {bond}, the proposer bond is {required}")


class BatchTooLarge(KindRuleError):
    rpc_code = -32063

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"batch too large: {size} bytes, limit is {limit}")


class NotProposer(KindRuleError):
    rpc_code = -32088

    def __init__(self, sender: bytes, proposer: bytes, opens_at: int) -> None:
        self.sender, self.proposer, self.opens_at = sender, proposer, opens_at
        super().__init__(
            f"not the proposer: {to_checksum_address(sender)} may not propose outputs, the proposer is "
            f"{to_checksum_address(proposer)}; anyone may from L1 block {opens_at} if no output finalizes before"
        )


class L2BlockNotDerived(KindRuleError):
    rpc_code = -32089

    def __init__(self, l2_block_number: int, l2_head: int) -> None:
        self.l2_block_number, self.l2_head = l2_block_number, l2_head
        super().__init__(
            f"L2 block {l2_block_number} is not derived from this L1's inbox yet (derived head: {l2_head}): "
            "an output can only name a block that exists"
        )


class ForcedDeposit(KindRuleError):
    rpc_code = -32093

    def __init__(self) -> None:
        super().__init__("a forced transaction may not be a deposit: deposits come only from the portal")


# -- mempool --


class MempoolError(InvalidTransaction):
    rpc_code: ClassVar[int] = -32020


class MempoolFull(MempoolError):
    rpc_code = -32020

    def __init__(self, limit: int) -> None:
        super().__init__(f"mempool full: {limit} transactions pending")


class SenderQueueFull(MempoolError):
    rpc_code = -32021

    def __init__(self, sender: bytes, limit: int) -> None:
        super().__init__(f"sender queue full: {to_checksum_address(sender)} has {limit} transactions pending")


class ReplacementFeeTooLow(MempoolError):
    rpc_code = -32022

    def __init__(self, nonce: int, pending_fee: int, fee: int) -> None:
        super().__init__(
            f"replacement fee too low: the pending transaction with nonce {nonce} pays {pending_fee}, "
            f"a replacement must pay more than that, this one pays {fee}"
        )


class AlreadyKnown(MempoolError):
    rpc_code = -32023

    def __init__(self, tx_hash: bytes) -> None:
        super().__init__(f"already known: transaction 0x{tx_hash.hex()} is pending or included")


class NonceGapTooLarge(MempoolError):
    rpc_code = -32024

    def __init__(self, sender: bytes, account_nonce: int, tx_nonce: int, limit: int) -> None:
        super().__init__(
            f"nonce gap too large: {to_checksum_address(sender)} has nonce {account_nonce}, "
            f"transaction has {tx_nonce}, at most {limit} ahead are held"
        )


class TransactionTooLarge(MempoolError):
    rpc_code = -32025

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"transaction too large: {size} bytes, limit is {limit}")


# -- chain --


class L1ChainError(Exception):
    """The L1 chain store refuses an operation (a caller bug or a wrong data directory)."""


class TimestampNotIncreasing(L1ChainError):
    def __init__(self, parent_ms: int, timestamp_ms: int) -> None:
        super().__init__(f"block timestamp {timestamp_ms} ms is not after its parent's {parent_ms} ms")


class ChainConfigMismatch(L1ChainError):
    def __init__(self, data_dir: str) -> None:
        super().__init__(
            f"the chain in {data_dir} was created with a different [l1] configuration "
            "(chain id, batcher, bond, challenge window, limits or genesis); "
            "use a fresh data_dir or the original config"
        )
