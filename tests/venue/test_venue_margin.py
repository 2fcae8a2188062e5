"""Margin at exact boundaries, withdrawals against margin and the liquidation reserve, funding sign and cap."""

from __future__ import annotations

import pytest

from node.state.view import Overlay
from node.venue.errors import InsufficientMargin, WithdrawalBreaksMargin
from node.venue.funding import process_funding
from node.venue.margin import (
    compute_equity,
    compute_health_x,
    compute_initial_x,
    get_account_snapshot,
    is_liquidatable,
    validate_withdrawable,
)
from node.venue.payloads import CancelAll, OrderType, PlaceOrder
from node.venue.records import get_market_state, get_venue_account
from node.venue.side import Side
from tests.venue.support import FEE, KEYS, A, B, C, D, Venue, compute_books, new_venue

RICH = 10_000_000


def open_long(balance_a: int, lots: int = 10, price: int = 1000) -> Venue:
    """A long `lots` at `price` against B's resting ask; A pays one fee."""
    venue = new_venue({A: balance_a, B: RICH, C: RICH, D: RICH}, prices={0: price})
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, lots, price))
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, lots, price, OrderType.IOC))
    return venue


def test_initial_margin_is_inclusive() -> None:
    # 10 lots at 1000 with 10 % initial margin need exactly 1000 of equity after the fee
    venue = open_long(1000 + FEE)
    assert venue.position(A) == (10, 10_000) and venue.balance(A) == 1000
    with pytest.raises(InsufficientMargin):
        open_long(999 + FEE)


def test_resting_orders_count_in_initial_margin_at_their_worst_case() -> None:
    venue = open_long(RICH)
    snapshot = get_account_snapshot(venue.state, A)
    assert compute_initial_x(snapshot) == 10 * 1000 * 1000
    venue.send(KEYS[0], PlaceOrder(0, Side.SELL, 4, 1100))  # a sell reduces the worst case until it flips
    assert compute_initial_x(get_account_snapshot(venue.state, A)) == 10 * 1000 * 1000
    venue.send(KEYS[0], PlaceOrder(0, Side.SELL, 12, 1100))  # 16 lots of asks: worst case short 6
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 5, 900))  # 5 lots of bids: worst case long 15
    assert compute_initial_x(get_account_snapshot(venue.state, A)) == 15 * 1000 * 1000


@pytest.mark.parametrize("extra,liquidatable", [(0, False), (-1, True)])
def test_maintenance_boundary_is_exact(extra: int, liquidatable: bool) -> None:
    # at 900: equity = balance - 1000, maintenance = 10 x 900 x 5 % = 450
    venue = open_long(1450 + FEE + extra)
    venue.set_price(0, 900)
    snapshot = get_account_snapshot(venue.state, A)
    assert compute_equity(snapshot) == 450 + extra
    assert compute_health_x(snapshot) == 10_000 * extra
    assert is_liquidatable(snapshot) is liquidatable
    venue.end_block()
    assert (venue.position(A)[0] < 10) is liquidatable


def test_withdrawals_keep_initial_margin() -> None:
    venue = open_long(5000 + FEE)
    venue.set_price(0, 800)
    venue.set_price(0, 700)  # equity 2000, initial margin 700: 1300 free (the reserve floor is 3000)
    validate_withdrawable(venue.state, A, 1300)
    with pytest.raises(WithdrawalBreaksMargin) as info:
        validate_withdrawable(venue.state, A, 1301)
    assert info.value.rpc_code == -31089 and "initial margin" in str(info.value)
    validate_withdrawable(venue.state, C, 10**30)  # the venue never touched C: nothing to check


def test_withdrawals_keep_the_liquidation_reserve_until_refreshed() -> None:
    venue = open_long(5000 + FEE)  # 4000 free: the triggers assume half of it, 2000, withdrawn
    assert get_venue_account(venue.state, A).floor == 3000
    validate_withdrawable(venue.state, A, 2000)
    with pytest.raises(WithdrawalBreaksMargin) as info:
        validate_withdrawable(venue.state, A, 2001)
    assert "reserve" in str(info.value)
    venue.send(KEYS[0], CancelAll(0))  # any venue transaction re-indexes the account (and pays a fee)
    assert get_venue_account(venue.state, A).floor == 4999 - (4999 - 1000) // 2
    venue.set_price(0, 1100)  # +1000 unrealized: free 4899, the floor is unchanged until a refresh
    validate_withdrawable(venue.state, A, 4999 - 3000)
    with pytest.raises(WithdrawalBreaksMargin):
        validate_withdrawable(venue.state, A, 4999 - 3000 + 1)
    venue.send(KEYS[0], CancelAll(0))
    assert get_venue_account(venue.state, A).floor == 4998 - (4998 + 1000 - 1100) // 2


# -- funding --


def funded_venue(bid: int | None, ask: int | None) -> Venue:
    """A long 10 / B short 10 at 1000, a book of C's bid and D's ask, the funding epoch established."""
    venue = new_venue({A: RICH, B: RICH, C: RICH, D: RICH}, prices={0: 1000})
    venue.end_block(advance_ms=0)  # the first block sets the epoch (an empty book: no funding)
    assert get_market_state(venue.state, 0).funding_index == 0
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 10, 1000))
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 10, 1000, OrderType.IOC))
    if bid is not None:
        venue.send(KEYS[2], PlaceOrder(0, Side.BUY, 1, bid))
    if ask is not None:
        venue.send(KEYS[3], PlaceOrder(0, Side.SELL, 1, ask))
    return venue


@pytest.mark.parametrize(
    "bid,ask,step",
    [
        (1004, 1006, 5),  # mid 1005: +5, under the cap (1 % of 1000 = 10): longs pay shorts
        (1010, 1030, 10),  # mid 1020: +20 capped at +10
        (990, 998, -6),  # mid 994: shorts pay longs
        (900, 960, -10),  # mid 930: -70 capped at -10
        (None, 1030, 0),  # one side empty: no premium
    ],
)
def test_funding_sign_and_cap(bid: int | None, ask: int | None, step: int) -> None:
    venue = funded_venue(bid, ask)
    venue.end_block(advance_ms=0)  # same interval: nothing moves
    assert get_market_state(venue.state, 0).funding_index == 0
    venue.timestamp_ms += 60_000
    venue.end_block()
    assert get_market_state(venue.state, 0).funding_index == step
    venue.timestamp_ms += 10 * 60_000  # ten intervals skipped: the index still moves once
    venue.end_block()
    assert get_market_state(venue.state, 0).funding_index == 2 * step
    # settled lazily when touched: the long pays size x index, the short receives it
    pnl_a, pnl_b = venue.pnl(A), venue.pnl(B)
    equity_a = compute_equity(get_account_snapshot(venue.state, A))
    venue.send(KEYS[0], CancelAll(0))
    venue.send(KEYS[1], CancelAll(0))
    assert venue.balance(A) + venue.pnl(A) - (RICH - 2 * FEE) == -10 * 2 * step
    assert venue.balance(B) + venue.pnl(B) - (RICH - 2 * FEE) == 10 * 2 * step
    assert compute_equity(get_account_snapshot(venue.state, A)) == equity_a - FEE
    assert (pnl_a, pnl_b) == (0, 0) and compute_books(venue.state)[1] == 0


def test_funding_needs_an_oracle_price() -> None:
    venue = new_venue({A: RICH})
    overlay = Overlay(venue.state)
    process_funding(overlay, venue.ctx)
    assert overlay.writes == {}


def test_transfers_and_withdrawals_are_margin_checked_by_the_state_transition() -> None:
    """The core's transfer and withdrawal run the venue's debit check (node.stf.debit_checks)."""
    from node.stf.errors import InvalidTransaction
    from node.tx import Transfer, Withdrawal

    venue = open_long(5000 + FEE)
    venue.set_price(0, 800)
    venue.set_price(0, 700)  # 1300 free, as above; a transfer also pays its fee
    before = dict(venue.state.items)
    for payload in (Transfer(C, 1300), Withdrawal(C, 1300)):  # 1300 + the fee of 1 > 1300 free
        with pytest.raises(InvalidTransaction) as info:
            venue.send(KEYS[0], payload, fee=1)
        assert isinstance(info.value, WithdrawalBreaksMargin) and info.value.rpc_code == -31089
        assert venue.state.items == before  # rejected without a trace
    venue.send(KEYS[0], Transfer(C, 1299), fee=1)  # exactly the free collateral
