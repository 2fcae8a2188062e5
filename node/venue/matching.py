"""Matching an incoming order against the book, and settling every fill in the same transaction.

`process_match` walks the opposite side from the best price while it crosses
the taker's limit, taking the head (oldest) order of each level first:

- self-trade prevention: a resting order of the taker's own account is
  cancelled (removed from the book, nothing trades) and matching goes on;
- otherwise min(remaining, resting) lots trade at the resting order's price
  (partial fills leave the rest of either order);
- at most MAX_MATCH_STEPS fills and self-trade cancels per order, so one
  transaction's state access (and its fraud-proof witness) stays bounded;
  `MatchResult.stopped` says the book still crossed when the budget ran out.

A fill settles at once (node.venue.positions, node.venue.ledger): both
positions (funding first, realized PnL into the claim), the maker fee and
the taker fee ceil(lots x price x bps / BPS) as claims to the chain's fee
recipient, the maker's claim settled into its balance, and the maker's
liquidation trigger moved (node.venue.reindex). The taker's own settlement,
margin check and re-index are the caller's, once per order.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address
from node.state.view import Overlay
from node.stf.config import ChainConfig
from node.stf.errors import StateInvariantViolated
from node.venue.book import (
    get_best_price,
    get_level_at,
    get_next_price,
    get_required_order,
    process_fill_resting,
    process_remove_order,
)
from node.venue.ledger import process_claim_transfer, process_settle
from node.venue.margin import MarketView
from node.venue.markets import BPS
from node.venue.positions import process_trade
from node.venue.reindex import compute_fill_health_delta, process_trigger_after_fill
from node.venue.side import Side

MAX_MATCH_STEPS = 8


@dataclass(frozen=True, slots=True)
class Fill:
    maker_order_id: int
    maker: Address
    price: int
    lots: int
    maker_fee: int
    taker_fee: int


@dataclass(frozen=True, slots=True)
class FillOutcome:
    fill: Fill
    maker_fires: bool  # the maker's liquidation trigger fires after the fill


@dataclass(frozen=True, slots=True)
class MatchResult:
    fills: tuple[Fill, ...]
    filled: int
    self_trade_cancels: tuple[int, ...]
    stopped: bool  # the step budget ran out while the book still crossed the limit
    firing_makers: frozenset[Address]  # makers whose trigger fires after their fill

    @property
    def notional(self) -> int:
        return sum(f.lots * f.price for f in self.fills)


def compute_fee(notional: int, bps: int) -> int:
    return -(-notional * bps // BPS)


def is_crossing(side: Side, limit: int, resting_price: int) -> bool:
    """Does a `side` order with `limit` trade against a resting order at `resting_price`?"""
    return resting_price <= limit if side == Side.BUY else resting_price >= limit


def process_match(
    overlay: Overlay,
    config: ChainConfig,
    view: MarketView,
    taker: Address,
    side: Side,
    lots: int,
    limit: int,
    taker_fee_bps: int,
    max_steps: int = MAX_MATCH_STEPS,
) -> MatchResult:
    params = view.params
    opposite = side.opposite
    remaining, steps = lots, 0
    fills: list[Fill] = []
    cancels: list[int] = []
    firing: set[Address] = set()
    price = get_best_price(overlay, params, opposite)
    while remaining > 0 and price is not None and is_crossing(side, limit, price) and steps < max_steps:
        steps += 1
        level = get_level_at(overlay, params, opposite, price)
        if level is None:
            raise StateInvariantViolated(f"the book of market {params.market_id} marks a missing level at {price}")
        order_id = level.head_id
        order = get_required_order(overlay, order_id)
        if order.owner == taker:
            process_remove_order(overlay, params, order_id)
            cancels.append(order_id)
        else:
            lots_now = min(remaining, order.lots)
            outcome = process_fill(overlay, config, view, taker, order_id, lots_now, taker_fee_bps)
            fills.append(outcome.fill)
            remaining -= lots_now
            if outcome.maker_fires:
                firing.add(outcome.fill.maker)
        if get_level_at(overlay, params, opposite, price) is None:
            price = get_next_price(overlay, params, opposite, price)
    stopped = remaining > 0 and price is not None and is_crossing(side, limit, price)
    return MatchResult(tuple(fills), lots - remaining, tuple(cancels), stopped, frozenset(firing))


def process_fill(
    overlay: Overlay,
    config: ChainConfig,
    view: MarketView,
    taker: Address,
    order_id: int,
    lots: int,
    taker_fee_bps: int,
) -> FillOutcome:
    """Trade `lots` against resting order `order_id` at its price."""
    params, market_id = view.params, view.params.market_id
    order = process_fill_resting(overlay, params, order_id, lots)
    notional = lots * order.price
    maker_fee, taker_fee = compute_fee(notional, params.maker_fee_bps), compute_fee(notional, taker_fee_bps)
    maker_delta = order.side.signed(lots)
    maker = process_trade(overlay, order.owner, market_id, view.state, maker_delta, order.price)
    process_claim_transfer(overlay, order.owner, config.fee_recipient, maker_fee)
    process_trade(overlay, taker, market_id, view.state, -maker_delta, order.price)
    process_claim_transfer(overlay, taker, config.fee_recipient, taker_fee)
    process_settle(overlay, order.owner)
    health_delta = compute_fill_health_delta(view, maker.before.size, maker.after.size, order.price, maker_fee)
    fires = process_trigger_after_fill(
        overlay, order.owner, market_id, view, maker.after.size, health_delta, maker.closed_trigger
    )
    return FillOutcome(Fill(order_id, order.owner, order.price, lots, maker_fee, taker_fee), fires)
