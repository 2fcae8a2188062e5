"""The rollup's own transaction kinds: transfer, withdrawal, and the unsigned deposit and balance override.

Zero amounts: a transfer or withdrawal of 0 is rejected (ZeroAmount). It
would only burn a fee and a nonce, and a zero withdrawal would leave a record
in state that is worth nothing on L1. A deposit of 0 is applied as a no-op
(it still gets a receipt): deposits come from L1 events the sequencer may not
skip, so they never fail on their amount.

A balance override (a devnet's, node.tx.BalanceOverrideTx) sets an account's
balance to exactly its value and keeps its nonce; the difference to the old
balance is minted (supply up) or burnt (supply down), so the sum of balances
still equals the supply. It applies only where the chain's genesis enables
it (node.stf.chain_rules); elsewhere it is skipped (BalanceOverridesDisabled).
"""

from __future__ import annotations

from typing import TypeVar

from node.state.schema import Account, WithdrawalRecord, get_account, set_account, set_withdrawal
from node.state.view import Overlay, StateReader
from node.stf.chain_rules import is_devnet_overrides_enabled
from node.stf.config import BlockContext, ChainConfig
from node.stf.debit_checks import validate_debit
from node.stf.errors import BalanceOverridesDisabled, ZeroAmount
from node.stf.handlers import Signed, TxHandler, register_handlers
from node.stf.ledger import process_burn, process_credit, process_debit, process_mint, validate_mint_fits
from node.tx import BalanceOverrideTx, DepositTx, Transfer, Withdrawal

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


def validate_balance_override(reader: StateReader, override: BalanceOverrideTx) -> None:
    """The chain enables overrides, and raising the balance keeps the supply within 2^256 - 1."""
    if not is_devnet_overrides_enabled(reader):
        raise BalanceOverridesDisabled()
    current = get_account(reader, override.to).balance
    if override.amount > current:
        validate_mint_fits(reader, override.amount - current)


def apply_balance_override(overlay: Overlay, override: BalanceOverrideTx) -> None:
    """Set `to`'s balance to exactly `amount` (nonce kept); mint or burn the difference. No fee."""
    account = get_account(overlay, override.to)
    if override.amount > account.balance:
        process_mint(overlay, override.amount - account.balance)
    else:
        process_burn(overlay, account.balance - override.amount)
    set_account(overlay, override.to, Account(override.amount, account.nonce))


CORE_HANDLERS: tuple[TxHandler[Transfer] | TxHandler[Withdrawal], ...] = (
    TxHandler(Transfer, apply_transfer, validate_positive_amount, compute_amount_cost),
    TxHandler(Withdrawal, apply_withdrawal, validate_positive_amount, compute_amount_cost),
)

register_handlers(CORE_HANDLERS)
