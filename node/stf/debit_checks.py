"""Debit checks: rules other modules add to what a sender may take out of its balance.

Transfers and withdrawals call `validate_debit(reader, sender, amount + fee)`
on the pre-state after their own checks; the venue registers its margin rule
here (collateral backing open positions cannot be transferred or withdrawn
below initial margin). Written once at import time, like the handler table.
"""

from __future__ import annotations

from collections.abc import Callable

from node.state.view import StateReader

DebitCheck = Callable[[StateReader, bytes, int], None]

_CHECKS: list[tuple[str, DebitCheck]] = []


def register_debit_check(name: str, check: DebitCheck) -> None:
    if any(existing == name for existing, _ in _CHECKS):
        raise ValueError(f"debit check {name!r} is already registered")
    _CHECKS.append((name, check))


def validate_debit(reader: StateReader, address: bytes, amount: int) -> None:
    """Raise the first registered check's InvalidTransaction, if any objects to the debit."""
    for _, check in _CHECKS:
        check(reader, address, amount)
