"""The pure state transition function (see `node.stf.execute` for the per-transaction steps).

recover_transaction(raw) -> RecoveredTx
validate_transaction(reader, config, rtx) -> None            read-only; raises InvalidTransaction
apply_transaction(overlay, config, ctx, rtx, index=0) -> Receipt
execute_block(reader, config, header_or_ctx, rtxs) -> BlockExecution   raises InvalidBlock
build_block_transactions(reader, config, ctx, candidates, deposits=()) -> BlockBuild
register_handlers([TxHandler(payload_cls, apply, check, cost), ...])   new transaction kinds,
                        each handler's functions typed by its payload class (Signed[P])
"""

from node.stf.blocks import (
    BlockBuild,
    BlockExecution,
    Rejection,
    build_block_transactions,
    execute_block,
)
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import (
    AmountOverflow,
    BadSignature,
    BalanceOverridesDisabled,
    DepositsNotFirst,
    FeeTooLow,
    InsufficientBalance,
    InvalidBlock,
    InvalidTransaction,
    InvalidTransactionInBlock,
    MalformedTransaction,
    NonceOverflow,
    NonceTooHigh,
    NonceTooLow,
    StateInvariantViolated,
    StfError,
    TooManyTransactions,
    TxRootMismatch,
    UnknownKind,
    WrongChainId,
    ZeroAmount,
)
from node.stf.execute import (
    STATUS_SUCCESS,
    Receipt,
    apply_transaction,
    recover_transaction,
    validate_transaction,
)
from node.stf.handlers import Signed, TxHandler, get_handler, register_handler, register_handlers

__all__ = [
    "AmountOverflow",
    "BadSignature",
    "BalanceOverridesDisabled",
    "BlockBuild",
    "BlockContext",
    "BlockExecution",
    "ChainConfig",
    "DepositsNotFirst",
    "FeeTooLow",
    "InsufficientBalance",
    "InvalidBlock",
    "InvalidTransaction",
    "InvalidTransactionInBlock",
    "MalformedTransaction",
    "NonceOverflow",
    "NonceTooHigh",
    "NonceTooLow",
    "Receipt",
    "Rejection",
    "STATUS_SUCCESS",
    "Signed",
    "StateInvariantViolated",
    "StfError",
    "TooManyTransactions",
    "TxHandler",
    "TxRootMismatch",
    "UnknownKind",
    "WrongChainId",
    "ZeroAmount",
    "apply_transaction",
    "build_block_transactions",
    "execute_block",
    "get_handler",
    "recover_transaction",
    "register_handler",
    "register_handlers",
    "validate_transaction",
]
