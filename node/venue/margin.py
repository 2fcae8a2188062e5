"""Cross margin: equity, requirements, and the checks that keep accounts above them.

For an account with native balance B, PnL claim P (node.venue.ledger) and
positions i at mark (oracle) price m_i:

    equity = B + P + sum unrealized_i                      (node.venue.positions)
    MMx    = sum |size_i| x m_i x maintenance_bps_i        (maintenance, in units x BPS)
    IMx    = sum max(|size_i + bid_lots_i|, |size_i - ask_lots_i|) x m_i x initial_bps_i

Requirements stay scaled by BPS so no division rounds: an account is
liquidatable when BPS x equity < MMx (strictly below maintenance), meets
initial margin when BPS x equity >= IMx. Resting orders count in the initial
requirement at their worst case (every order on one side filled) priced at
the mark.

Liquidation reserve. The liquidation triggers (node.venue.triggers) are
computed from the account's state when it was last indexed; a later native
debit the venue does not see (a transfer, a withdrawal, a core fee) must not
invalidate them. So indexing sets aside a withdrawal allowance

    allowance = min(B, free collateral x ALLOWANCE_BPS / BPS)    (half the free collateral)

computes the triggers as if it were already withdrawn, and records
floor = B - allowance. `validate_withdrawable` lets a debit through only if
initial margin still holds and the balance stays >= floor. Settlements move
the floor with the balance (node.venue.ledger); any venue transaction by the
account re-indexes it and so refreshes the allowance. The fraction trades
withdrawals without a refresh against trigger distance: a trigger fires once
the account has lost the allowance plus its initial-minus-maintenance margin,
about halfway to its liquidation, so a price move re-checks the accounts
that are at risk, not every open account.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from node.crypto import Address
from node.state.view import StateReader
from node.venue.errors import InsufficientMargin, WithdrawalBreaksMargin
from node.venue.markets import BPS, MarketParams, get_market
from node.venue.positions import MarketPosition, compute_unrealized, get_positions
from node.venue.records import (
    EMPTY_ACCOUNT,
    MarketState,
    Position,
    VenueAccount,
    get_balance,
    get_market_state,
    get_venue_account,
)

ALLOWANCE_BPS = 5_000


@dataclass(frozen=True, slots=True)
class MarketView:
    params: MarketParams
    state: MarketState

    @property
    def mark(self) -> int:
        return self.state.oracle_price


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    address: Address
    balance: int
    account: VenueAccount
    positions: tuple[MarketPosition, ...]  # one per market the account holds a position record in
    markets: Mapping[int, MarketView]

    def open_positions(self) -> tuple[MarketPosition, ...]:
        return tuple(held for held in self.positions if held.position.size != 0)

    def get_position(self, market_id: int) -> Position | None:
        return next((held.position for held in self.positions if held.market_id == market_id), None)


class Reserve(NamedTuple):
    """What indexing an account sets aside (see the module doc): the balance its triggers rely on, and
    BPS x equity - MMx once the withdrawal allowance is gone."""

    floor: int
    health_x: int


def get_market_view(reader: StateReader, market_id: int) -> MarketView:
    return MarketView(get_market(reader, market_id), get_market_state(reader, market_id))


def get_account_snapshot(reader: StateReader, address: bytes) -> AccountSnapshot:
    account = get_venue_account(reader, address)
    positions = get_positions(reader, address, account.markets)
    markets = {m: get_market_view(reader, m) for m in account.markets}
    return AccountSnapshot(Address(address), get_balance(reader, address), account, positions, markets)


def compute_equity(s: AccountSnapshot) -> int:
    unrealized = 0
    for m, p in s.positions:  # plain loops, no generators: these run several times per order
        state = s.markets[m].state
        unrealized += compute_unrealized(p, state.oracle_price, state.funding_index)
    return s.balance + s.account.pnl + unrealized


def compute_maintenance_x(s: AccountSnapshot) -> int:
    total = 0
    for m, p in s.positions:
        view = s.markets[m]
        total += abs(p.size) * view.state.oracle_price * view.params.maintenance_margin_bps
    return total


def compute_initial_x(s: AccountSnapshot) -> int:
    total = 0
    for m, p in s.positions:
        view = s.markets[m]
        worst = max(abs(p.size + p.bid_lots), abs(p.size - p.ask_lots))
        total += worst * view.state.oracle_price * view.params.initial_margin_bps
    return total


def compute_health_x(s: AccountSnapshot) -> int:
    """BPS x equity - MMx: negative exactly when the account is liquidatable."""
    return BPS * compute_equity(s) - compute_maintenance_x(s)


def is_liquidatable(s: AccountSnapshot) -> bool:
    return any(p.size != 0 for _, p in s.positions) and compute_health_x(s) < 0


def compute_free_collateral(s: AccountSnapshot) -> int:
    return max(0, (BPS * compute_equity(s) - compute_initial_x(s)) // BPS)


def compute_reserve(s: AccountSnapshot) -> Reserve:
    equity = compute_equity(s)
    free = max(0, (BPS * equity - compute_initial_x(s)) // BPS)  # compute_free_collateral, equity computed once
    allowance = min(s.balance, free * ALLOWANCE_BPS // BPS)
    return Reserve(s.balance - allowance, BPS * (equity - allowance) - compute_maintenance_x(s))


def validate_initial_margin(s: AccountSnapshot) -> None:
    equity, required = compute_equity(s), compute_initial_x(s)
    if BPS * equity < required:
        raise InsufficientMargin(s.address, equity, -(-required // BPS), "initial")


def validate_maintenance_margin(s: AccountSnapshot) -> None:
    equity, required = compute_equity(s), compute_maintenance_x(s)
    if BPS * equity < required:
        raise InsufficientMargin(s.address, equity, -(-required // BPS), "maintenance")


def validate_withdrawable(reader: StateReader, address: bytes, amount: int) -> None:
    """Raise WithdrawalBreaksMargin unless `amount` may leave the account's native balance.

    For the core's transfer and withdrawal checks: call with amount = payload
    amount + fee, before applying. An account the venue has never touched costs
    one read and always passes.
    """
    if get_venue_account(reader, address) == EMPTY_ACCOUNT:
        return
    s = get_account_snapshot(reader, address)
    equity, required = compute_equity(s), compute_initial_x(s)
    if BPS * (equity - amount) < required:
        raise WithdrawalBreaksMargin(
            address, amount, f"equity {equity} - {amount} would fall below the initial margin {-(-required // BPS)}"
        )
    if any(p.size != 0 for _, p in s.positions) and s.balance - amount < s.account.floor:
        raise WithdrawalBreaksMargin(
            address,
            amount,
            f"the balance must stay at or above the liquidation reserve {s.account.floor} "
            "(any venue transaction by the account refreshes it)",
        )
