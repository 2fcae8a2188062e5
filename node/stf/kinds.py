"""The rollup's own transaction kinds: transfer, withdrawal and (unsigned) deposit.

Zero amounts: a transfer or withdrawal of 0 is rejected (ZeroAmount). It
would only burn a fee and a nonce, and a zero withdrawal would leave a record
in state that is worth nothing on L1. A deposit of 0 is applied as a no-op
(it still gets a receipt): deposits come from L1 events the sequencer may not
skip, so they never fail on their amount.
"""

from __future__ import annotations

from typing import Any

from node.state.schema import WithdrawalRecord, set_withdrawal
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.debit_checks import validate_debit
from node.stf.errors import ZeroAmount
from node.stf.handlers import register_handler
from node.stf.ledger import process_burn, process_credit, process_debit, process_mint, validate_mint_fits
from node.tx import DepositTx, RecoveredTx, Transfer, Withdrawal


def compute_amount_cost(payload: Any) -> int:
    return int(payload.amount)


def validate_positive_amount(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    """A transfer or withdrawal moves a positive amount, and the registered debit checks allow it."""
    payload = rtx.tx.payload  # type: ignore[union-attr]
    if payload.amount == 0:
        raise ZeroAmount(payload.NAME)
    validate_debit(reader, rtx.sender, payload.amount + rtx.tx.fee)  # type: ignore[union-attr]


def apply_transfer(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    payload: Transfer = rtx.tx.payload  # type: ignore[union-attr]
    process_debit(overlay, rtx.sender, payload.amount)
    process_credit(overlay, payload.to, payload.amount)


def apply_withdrawal(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    payload: Withdrawal = rtx.tx.payload  # type: ignore[union-attr]
    process_debit(overlay, rtx.sender, payload.amount)
    process_burn(overlay, payload.amount)
    record = WithdrawalRecord(rtx.sender, payload.l1_recipient, payload.amount, ctx.number)
    set_withdrawal(overlay, rtx.hash, record)


def validate_deposit(reader: StateReader, deposit: DepositTx) -> None:
    validate_mint_fits(reader, deposit.amount)


def apply_deposit(overlay: Overlay, deposit: DepositTx) -> None:
    """Mint `amount` to `to`: supply and balance go up together; no nonce, no fee."""
    process_mint(overlay, deposit.amount)
    process_credit(overlay, deposit.to, deposit.amount)


register_handler(Transfer, apply_transfer, check=validate_positive_amount, cost=compute_amount_cost)
register_handler(Withdrawal, apply_withdrawal, check=validate_positive_amount, cost=compute_amount_cost)
