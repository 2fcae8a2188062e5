"""What the book does not take from a liquidation: the insurance fund, then auto-deleveraging.

A liquidation chunk the book could not fill (within its limit price) is
closed at the backstop price q: the mark if the liquidated account's equity
is >= 0, else its bankruptcy price (mark + ceil(-equity / lots) for a sell,
mark - ceil(-equity / lots) for a buy, at least 1), at which it ends at zero
equity instead of a deficit.

1. The insurance fund takes the lots over at q (it becomes the
   counterparty) if it is not the account being liquidated and would stay at
   or above maintenance afterwards.
2. Otherwise auto-deleveraging: positions on the other side are closed
   against the liquidated one at q, in the published ranking order: the
   other side's liquidation index (node.venue.triggers), nearest trigger
   first, i.e. the highest effective leverage first, FIFO within a bucket.
   At most MAX_ADL_STEPS counterparties per chunk; what is left stays for
   the next block.

No trading fee is charged on either path; the liquidation fee is the
caller's (node.venue.closeout).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.errors import StateInvariantViolated
from node.venue.margin import MarketView, compute_equity, compute_health_x, get_account_snapshot
from node.venue.markets import BPS
from node.venue.positions import process_trade
from node.venue.records import get_position
from node.venue.reindex import compute_fill_health_delta, process_trigger_after_fill
from node.venue.side import Side
from node.venue.triggers import get_bucket_head, get_first_bucket

MAX_ADL_STEPS = 4


def compute_backstop_price(view: MarketView, side: Side, lots: int, equity: int) -> int:
    """The price at which closing `lots` (a `side` order) leaves `equity` >= 0 where possible."""
    if equity >= 0:
        return view.mark
    shift = -(equity // lots)  # ceil(-equity / lots), equity < 0
    return view.mark + shift if side == Side.SELL else max(1, view.mark - shift)


def compute_fund_available(reader: StateReader, fund: bytes) -> int:
    """What the fund can lose and stay at or above maintenance: max(0, health) // BPS."""
    return max(0, compute_health_x(get_account_snapshot(reader, fund)) // BPS)


def is_fund_able(reader: StateReader, fund: bytes, view: MarketView, fund_delta: int, price: int) -> bool:
    """Would the fund stay at or above maintenance after trading `fund_delta` lots at `price`?"""
    size = get_position(reader, fund, view.params.market_id).size
    health = compute_health_x(get_account_snapshot(reader, fund))
    health += compute_fill_health_delta(view, size, size + fund_delta, price, 0)
    return health >= 0


def process_position_transfer(
    overlay: Overlay, view: MarketView, taker: bytes, counterparty: bytes, taker_delta: int, price: int
) -> None:
    """The taker trades `taker_delta` lots at `price` directly with the counterparty (no book, no fee).

    The counterparty's trigger moves like a maker's (node.venue.reindex); the taker is re-indexed by the caller.
    """
    market_id = view.params.market_id
    process_trade(overlay, taker, market_id, view.state, taker_delta, price)
    other = process_trade(overlay, counterparty, market_id, view.state, -taker_delta, price)
    health_delta = compute_fill_health_delta(view, other.before.size, other.after.size, price, 0)
    process_trigger_after_fill(
        overlay, counterparty, market_id, view, other.after.size, health_delta, other.closed_trigger
    )


@dataclass(frozen=True, slots=True)
class BackstopResult:
    lots: int  # closed
    price: int
    by_fund: bool  # the fund took the lots over (else auto-deleveraging)
    touched: frozenset[Address]  # accounts whose positions changed (re-indexed)


@dataclass(frozen=True, slots=True)
class Deleveraging:
    lots: int  # closed against counterparties
    touched: frozenset[Address]  # the counterparties


def process_backstop(
    overlay: Overlay, view: MarketView, fund: Address, address: Address, side: Side, lots: int
) -> BackstopResult:
    """Close `lots` of the account's position (a `side` order) off the book."""
    equity = compute_equity(get_account_snapshot(overlay, address))
    price = compute_backstop_price(view, side, lots, equity)
    taker_delta = side.signed(lots)
    if address != fund and is_fund_able(overlay, fund, view, -taker_delta, price):
        process_position_transfer(overlay, view, address, fund, taker_delta, price)
        return BackstopResult(lots, price, True, frozenset({fund}))
    deleveraging = process_auto_deleverage(overlay, view, address, side, lots, price)
    return BackstopResult(deleveraging.lots, price, False, deleveraging.touched)


def process_auto_deleverage(
    overlay: Overlay, view: MarketView, address: Address, side: Side, lots: int, price: int
) -> Deleveraging:
    """Close up to `lots` at `price` against the ranked positions of the other side of the market.

    Those are on the liquidation index's `side` half (a sell closes a long against the shorts, index side
    SELL): a position opened by `side` orders takes the other side of the trade, which shrinks it."""
    market_id = view.params.market_id
    remaining, touched = lots, set()
    for _ in range(MAX_ADL_STEPS):
        if remaining == 0:
            break
        bucket = get_first_bucket(overlay, market_id, side)
        counterparty = None if bucket is None else get_bucket_head(overlay, market_id, side, bucket)
        if counterparty is None or counterparty == address:
            raise StateInvariantViolated(f"market {market_id} has no position to deleverage against")
        size = get_position(overlay, counterparty, market_id).size
        take = min(remaining, abs(size))
        if take == 0:
            raise StateInvariantViolated(f"the liquidation index of market {market_id} lists an empty position")
        process_position_transfer(overlay, view, address, counterparty, side.signed(take), price)
        touched.add(counterparty)
        remaining -= take
    return Deleveraging(lots - remaining, frozenset(touched))
