"""Venue cash: signed PnL claims on the pool, and their settlement into native balances.

The venue never mints or burns: it only moves native balance between
accounts, so the core's supply invariant (sum of balances == supply) holds.

Every venue cash flow first lands in the account's `pnl`, a signed claim on
the PnL pool (a native account at keys.POOL_ADDRESS):

- realized PnL of a trade, funding payments, fees, the liquidation fee and
  insurance-fund cover are added to or taken from `pnl` (fees and cover are
  claim transfers between two accounts' `pnl`);
- `process_settle` then moves native balance: a negative claim (a debt) is
  paid from the account's balance into the pool as far as the balance goes;
  a positive claim is paid from the pool into the balance as far as the pool
  goes. What cannot be paid stays as a claim and counts in the account's
  equity; it is paid at a later settlement (realized profit waits for the
  losers' realized losses: the pool holds exactly what losers have paid and
  winners have not yet taken).

Conservation (checked by tests/venue/test_venue_properties.py):

    pool balance == sum(pnl) + sum over positions (size * funding_index - cost)

A settlement moves value between `pnl` and the balance, so it leaves equity
unchanged; it shifts the account's reserve floor by the same amount, keeping
(balance - floor) and so the liquidation triggers valid (node.venue.margin).
"""

from __future__ import annotations

from node.state.view import Overlay
from node.stf.ledger import process_credit, process_debit
from node.venue.keys import POOL_ADDRESS
from node.venue.records import get_balance, get_venue_account, set_venue_account


def process_pnl(overlay: Overlay, address: bytes, amount: int) -> None:
    """Add a signed amount to the account's claim on the pool."""
    if amount == 0:
        return
    account = get_venue_account(overlay, address)
    set_venue_account(overlay, address, account.with_pnl(account.pnl + amount))


def process_claim_transfer(overlay: Overlay, payer: bytes, payee: bytes, amount: int) -> None:
    """Move `amount` >= 0 of claim from `payer` to `payee` (fees, liquidation fee, fund cover)."""
    if amount < 0:
        raise ValueError("a claim transfer moves a non-negative amount")
    if amount == 0 or payer == payee:
        return
    process_pnl(overlay, payer, -amount)
    process_pnl(overlay, payee, amount)


def process_settle(overlay: Overlay, address: bytes) -> int:
    """Pay the account's claim in native balance as far as possible; return the amount moved (+ to the account)."""
    account = get_venue_account(overlay, address)
    if account.pnl == 0:
        return 0
    payer: bytes
    payee: bytes
    if account.pnl < 0:
        moved = -min(get_balance(overlay, address), -account.pnl)
        payer, payee = address, POOL_ADDRESS
    else:
        moved = min(get_balance(overlay, POOL_ADDRESS), account.pnl)
        payer, payee = POOL_ADDRESS, address
    if moved == 0:
        return 0
    process_debit(overlay, payer, abs(moved))
    process_credit(overlay, payee, abs(moved))
    set_venue_account(overlay, address, account.with_pnl_floor(account.pnl - moved, account.floor + moved))
    return moved
