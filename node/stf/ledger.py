"""Balance and supply arithmetic over an overlay, with overflow and underflow checks.

Invariant kept by every caller: the sum of all balances equals the supply
key. Minting (deposits) and burning (withdrawals) change both; everything
else moves value between accounts.
"""

from __future__ import annotations

from node.crypto import to_checksum_address
from node.encoding import UINT256_MAX
from node.state.schema import Account, get_account, get_supply, set_account, set_supply
from node.state.view import Overlay, StateReader
from node.stf.errors import AmountOverflow, InsufficientBalance, StateInvariantViolated


def validate_balance(address: bytes, account: Account, required: int) -> None:
    if account.balance < required:
        raise InsufficientBalance(address, account.balance, required)


def validate_mint_fits(reader: StateReader, amount: int) -> None:
    supply = get_supply(reader)
    if supply + amount > UINT256_MAX:
        raise AmountOverflow("the total supply", supply, amount)


def process_credit(overlay: Overlay, address: bytes, amount: int) -> None:
    if amount == 0:
        return
    account = get_account(overlay, address)
    balance = account.balance + amount
    if balance > UINT256_MAX:
        raise AmountOverflow(f"account {to_checksum_address(address)}", account.balance, amount)
    set_account(overlay, address, Account(balance, account.nonce))


def process_debit(overlay: Overlay, address: bytes, amount: int) -> None:
    if amount == 0:
        return
    account = get_account(overlay, address)
    validate_balance(address, account, amount)
    set_account(overlay, address, Account(account.balance - amount, account.nonce))


def process_mint(overlay: Overlay, amount: int) -> None:
    if amount == 0:
        return
    validate_mint_fits(overlay, amount)
    set_supply(overlay, get_supply(overlay) + amount)


def process_burn(overlay: Overlay, amount: int) -> None:
    if amount == 0:
        return
    supply = get_supply(overlay)
    if supply < amount:
        raise StateInvariantViolated(f"burning {amount} from a total supply of {supply}")
    set_supply(overlay, supply - amount)
