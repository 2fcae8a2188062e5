"""Moving L1 value inside the contracts: credit, debit (the chain's ledger, l1.chain.accounts.L1_LEDGER), and bonds.

Every function writes into an `Overlay`; the conservation rule of l1.contracts.state
(balances + portal + bonds + burned == genesis supply) holds after each
contract as long as value only moves through here.
"""

from __future__ import annotations

from l1.chain.accounts import L1_LEDGER
from l1.contracts.state import get_bonds_locked, set_bonds_locked
from node.state.view import Overlay

process_credit = L1_LEDGER.process_credit
process_debit = L1_LEDGER.process_debit  # InsufficientBalance below zero


def process_lock_bond(overlay: Overlay, address: bytes, amount: int) -> None:
    """Take `amount` from `address` into the bonds locked by proposals and disputes."""
    process_debit(overlay, address, amount)
    set_bonds_locked(overlay, get_bonds_locked(overlay) + amount)


def process_pay_bond(overlay: Overlay, to: bytes, amount: int) -> None:
    """Release `amount` of locked bonds to `to` (its owner back, or the winner who took it)."""
    set_bonds_locked(overlay, get_bonds_locked(overlay) - amount)
    process_credit(overlay, to, amount)


__all__ = ["process_credit", "process_debit", "process_lock_bond", "process_pay_bond"]
