"""The state transition: (state, block context, transactions) -> writes and receipts.

Pure and synchronous: no clock, no I/O. The same code runs in the sequencer,
the executors, the challenger and the L1's one-step verifier (over a witness
instead of a database).

A signed transaction, in order:
  1. its kind has a handler (UnknownKind)
  2. chain id matches (WrongChainId)
  3. fee >= min_fee (FeeTooLow)
  4. nonce == account nonce (NonceTooLow / NonceTooHigh / NonceOverflow)
  5. the kind's own checks, e.g. amount > 0 (ZeroAmount)
  6. balance >= fee + the kind's cost (InsufficientBalance)
  7. fee moves to the fee recipient, nonce += 1, then the kind's effects.
A deposit mints its amount to `to` (no nonce, no fee); a balance override
(devnet chains only) sets `to`'s balance (node.stf.kinds). Steps 2-4, 6 and the
fee-and-nonce part of 7 are the account ledger's (node.stf.ledger), which the
L1 chain runs too.

Every transaction runs in a child overlay merged into the caller's only on
success, so an invalid transaction leaves state untouched. Inside a block an
invalid transaction is *skipped*: a status-0 receipt carrying its error code
(`skip_transaction`), no fee, no effect. What a block holds is decided by L1
data alone; validity is decided here, by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from node.crypto import ZERO_ADDRESS, CryptoError, Hash32, keccak256
from node.encoding import DecodeError
from node.state.schema import Account, get_account
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.errors import BadSignature, InvalidTransaction, MalformedTransaction, UnknownKind
from node.stf.handlers import Signed, TxHandler, get_handler
from node.stf.kinds import apply_balance_override, apply_deposit, validate_balance_override, validate_deposit
from node.stf.ledger import (
    L2_LEDGER,
    process_credit,
    validate_balance,
    validate_chain_id,
    validate_fee,
    validate_nonce,
)
from node.tx import BalanceOverrideTx, DepositTx, RecoveredTx, SignedTx, UnknownKindError, UnrecoverableTx, recover

STATUS_SKIPPED = 0
STATUS_SUCCESS = 1
DEPOSIT_KIND_NAME = "deposit"
BALANCE_OVERRIDE_KIND_NAME = "balance_override"
INVALID_KIND_NAME = "invalid"


@dataclass(frozen=True, slots=True)
class Receipt:
    tx_hash: Hash32
    index: int
    status: int  # STATUS_SUCCESS, or STATUS_SKIPPED: invalid at that point, no effect
    kind: str
    fee: int
    block_number: int
    error: int | None = None  # a skipped transaction's error code (node.stf.errors)


def recover_transaction(raw: bytes) -> RecoveredTx:
    """Decode a transaction and recover its sender, raising InvalidTransaction subclasses."""
    try:
        return recover(raw)
    except UnknownKindError as exc:
        raise UnknownKind(str(exc)) from None
    except DecodeError as exc:
        raise MalformedTransaction(str(exc)) from None
    except CryptoError as exc:
        raise BadSignature(str(exc)) from None


def recover_in_block(raw: bytes) -> RecoveredTx:
    """A block's transaction as execution takes it: recovered, or an UnrecoverableTx that will be skipped."""
    try:
        return recover_transaction(raw)
    except InvalidTransaction as exc:
        return RecoveredTx(UnrecoverableTx(exc), Hash32(keccak256(raw)), ZERO_ADDRESS, raw)


# -- validation (read-only) --


def validate_transaction(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    """Raise the InvalidTransaction that applying `rtx` on `reader` would raise up front."""
    tx = rtx.tx
    if isinstance(tx, BalanceOverrideTx):
        validate_balance_override(reader, tx)
        return
    if isinstance(tx, DepositTx):
        validate_deposit(reader, tx)
        return
    signed = expect_recovered_signed(tx)
    handler = get_handler(type(signed.payload))
    validate_signed(reader, config, rtx, signed, handler, handler.bind(rtx))


def expect_recovered_signed(tx: object) -> SignedTx:
    """The signed transaction, or the InvalidTransaction of bytes that did not recover."""
    if isinstance(tx, UnrecoverableTx):
        raise tx.error if isinstance(tx.error, InvalidTransaction) else MalformedTransaction(str(tx.error))
    return expect_signed(tx)


def validate_signed(
    reader: StateReader,
    config: ChainConfig,
    rtx: RecoveredTx,
    signed: SignedTx,
    handler: TxHandler[Any],
    view: Signed[Any],
) -> Account:
    """The checks of a signed transaction, in the module doc's order; returns the sender's account they read.

    `view` is `handler.bind(rtx)`, bound once by the caller for both checking and applying.
    """
    validate_chain_id(config, signed)
    validate_fee(config, signed)
    account = get_account(reader, rtx.sender)
    validate_nonce(rtx.sender, account, signed)
    handler.validate(reader, config, view)
    validate_balance(rtx.sender, account, signed.fee + handler.compute_cost(view.payload))
    return account


def expect_signed(tx: object) -> SignedTx:
    if not isinstance(tx, SignedTx):
        raise MalformedTransaction(f"expected a signed transaction or a deposit, got {type(tx).__name__}")
    return tx


# -- application --


def apply_transaction(
    overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx, index: int = 0
) -> Receipt:
    """Apply one transaction; on InvalidTransaction `overlay` is left untouched."""
    scratch = overlay.child()
    fee = process_transaction(scratch, config, ctx, rtx)
    scratch.merge_into(overlay)
    return Receipt(rtx.hash, index, STATUS_SUCCESS, compute_kind_name(rtx), fee, ctx.number)


def process_transaction(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> int:
    """Validate and apply `rtx` into `overlay` (which the caller may discard); return the fee paid.

    The same steps as `validate_transaction` then applying, with the handler
    bound once and the sender's account read once for the checks and the
    fee-and-nonce write (the checks are read-only, so it is still current).
    """
    tx = rtx.tx
    if isinstance(tx, BalanceOverrideTx):  # before DepositTx: it is one, as far as block structure goes
        validate_balance_override(overlay, tx)
        apply_balance_override(overlay, tx)
        return 0
    if isinstance(tx, DepositTx):
        validate_deposit(overlay, tx)
        apply_deposit(overlay, tx)
        return 0
    signed = expect_recovered_signed(tx)
    handler = get_handler(type(signed.payload))
    view = handler.bind(rtx)
    account = validate_signed(overlay, config, rtx, signed, handler, view)
    fee = signed.fee
    L2_LEDGER.process_fee_and_nonce_of(overlay, rtx.sender, account, fee)
    process_credit(overlay, config.fee_recipient, fee)
    handler.process(overlay, config, ctx, view)
    return fee


def process_fee_and_nonce(overlay: Overlay, config: ChainConfig, sender: bytes, fee: int) -> None:
    """Debit the fee and bump the nonce in one account write, then pay the fee recipient."""
    L2_LEDGER.process_fee_and_nonce(overlay, sender, fee)
    process_credit(overlay, config.fee_recipient, fee)


def skip_transaction(ctx: BlockContext, rtx: RecoveredTx, index: int, error: InvalidTransaction) -> Receipt:
    """The receipt of a block's transaction that was invalid at its point: no effect, no fee."""
    return Receipt(rtx.hash, index, STATUS_SKIPPED, compute_kind_name(rtx), 0, ctx.number, error.rpc_code)


def compute_kind_name(rtx: RecoveredTx) -> str:
    tx = rtx.tx
    if isinstance(tx, BalanceOverrideTx):
        return BALANCE_OVERRIDE_KIND_NAME
    if isinstance(tx, DepositTx):
        return DEPOSIT_KIND_NAME
    if isinstance(tx, UnrecoverableTx):
        return INVALID_KIND_NAME
    return str(tx.payload.NAME)
