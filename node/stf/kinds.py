"""The rollup's own transaction kinds: transfer, withdrawal and (unsigned) deposit.

Zero amounts: a transfer or withdrawal of 0 is rejected (ZeroAmount). It
would only burn a fee and a nonce, and a zero withdrawal would leave a record
in state that is worth nothing on L1. A deposit of 0 is applied as a no-op
(it still gets a receipt): deposits come from L1 events the sequencer may not
skip, so they never fail on their amount.
"""

from __future__ import annotations

from typing import TypeVar

from node.state.schema import WithdrawalRecord, set_withdrawal
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.debit_checks import validate_debit
from node.stf.errors import ZeroAmount
from node.stf.handlers import Signed, TxHandler, register_handlers
from node.stf.ledger import process_burn, process_credit, process_debit, process_mint, validate_mint_fits
from node.tx import DepositTx, Transfer, Withdrawal

AmountPayload = TypeVar("AmountPayload", Transfer, Withdrawal)


def compute_amount_cost(payload: Transfer | Withdrawal) -> int:
    return payload.amount


def validate_positive_amount(reader: StateReader, config: ChainConfig, tx: Signed[AmountPayload]) -> None:
    """A transfer or withdrawal moves a positive amount, and the registered debit checks allow it."""
    if tx.payload.amount == 0:
        raise ZeroAmount(tx.payload.NAME)
    validate_debit(reader, tx.sender, tx.payload.amount + tx.fee)


def apply_transfer(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[Transfer]) -> None:
    process_debit(overlay, tx.sender, tx.payload.amount)
    process_credit(overlay, tx.payload.to, tx.payload.amount)


def apply_withdrawal(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[Withdrawal]) -> None:
    process_debit(overlay, tx.sender, tx.payload.amount)
    process_burn(overlay, tx.payload.amount)
    record = WithdrawalRecord(tx.sender, tx.payload.l1_recipient, tx.payload.amount, ctx.number)
    set_withdrawal(overlay, tx.hash, record)


def validate_deposit(reader: StateReader, deposit: DepositTx) -> None:
    validate_mint_fits(reader, deposit.amount)


def apply_deposit(overlay: Overlay, deposit: DepositTx) -> None:
    """Mint `amount` to `to`: supply and balance go up together; no nonce, no fee."""
    process_mint(overlay, deposit.amount)
    process_credit(overlay, deposit.to, deposit.amount)


CORE_HANDLERS: tuple[TxHandler[Transfer] | TxHandler[Withdrawal], ...] = (
    TxHandler(Transfer, apply_transfer, validate_positive_amount, compute_amount_cost),
    TxHandler(Withdrawal, apply_withdrawal, validate_positive_amount, compute_amount_cost),
)

register_handlers(CORE_HANDLERS)
