"""Typed errors of the L1 devnet, each with a JSON-RPC error code (docs/protocol.md section 6).

Transaction rejections shared with L2 (bad signature, wrong chain id, nonce,
fee, balance, malformed, unknown kind) reuse `node.stf.errors`. This module
adds:

    KindRuleError                -32060..-32093  a contract's rule failed: status-0 receipt (the contracts'
                                                 errors: l1.contracts.errors)
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
