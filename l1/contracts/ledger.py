"""Moving L1 value inside the contracts: credit, debit, and bonds locked or released.

Every function writes into an `Overlay`; the conservation rule of l1.contracts.state
(balances + portal + bonds + burned == genesis supply) holds after each
contract as long as value only moves through here.
"""

from __future__ import annotations

from node.state.schema import Account
from node.state.view import Overlay
from node.stf.errors import InsufficientBalance
from l1.contracts.state import get_bonds_locked, set_bonds_locked
from l1.chain.accounts import get_account, set_account


def process_debit(overlay: Overlay, address: bytes, amount: int) -> None:
    account = get_account(overlay, address)
    if account.balance < amount:
        raise InsufficientBalance(address, account.balance, amount)
    set_account(overlay, address, Account(account.balance - amount, account.nonce))


def process_credit(overlay: Overlay, address: bytes, amount: int) -> None:
    account = get_account(overlay, address)
    set_account(overlay, address, Account(account.balance + amount, account.nonce))


def process_lock_bond(overlay: Overlay, address: bytes, amount: int) -> None:
    """Take `amount` from `address` into the bonds locked by proposals and disputes."""
    process_debit(overlay, address, amount)
    set_bonds_locked(overlay, get_bonds_locked(overlay) + amount)


def process_pay_bond(overlay: Overlay, to: bytes, amount: int) -> None:
    """Release `amount` of locked bonds to `to` (its owner back, or the winner who took it)."""
    set_bonds_locked(overlay, get_bonds_locked(overlay) - amount)
    process_credit(overlay, to, amount)


__all__ = ["process_credit", "process_debit", "process_lock_bond", "process_pay_bond"]
