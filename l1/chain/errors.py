"""Typed errors of the L1 devnet, each with a JSON-RPC error code (docs/protocol.md section 6).

Transaction rejections shared with L2 (bad signature, wrong chain id, nonce,
fee, balance, malformed, unknown kind) reuse `node.stf.errors`; the
mempool's refusals (-32020..-32025: l1_sendRawTransaction refused it, not
included) are the sequencer's classes, `node.mempool_errors`, in the L1's
words. This module adds:

    KindRuleError                -32060..-32093  a contract's rule failed: status-0 receipt (the contracts'
                                                 errors: l1.contracts.errors)
    L1ChainError                           the chain store refuses an operation
    ├── TimestampNotIncreasing
    └── ChainConfigMismatch
"""

from __future__ import annotations

from typing import ClassVar


class KindRuleError(Exception):
    """The transaction is valid but its kind's rule fails: included with status 0, nonce and fee consumed.

    Deliberately not an InvalidTransaction: such a transaction *is* included.
    """

    rpc_code: ClassVar[int] = -32060


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
