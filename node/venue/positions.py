"""Positions: signed size, entry cost basis, lazy funding, and realized PnL into the account's claim.

A position holds `size` lots (long > 0) and `cost`, the entry cost basis in
units (same sign as size; entry price = cost / size). Trading `delta` lots at
`price`:

- growing (or opening) the position adds delta x price to the cost;
- reducing closes c = min(|delta|, |size|) lots: the cost share they carry is
  floor(cost x c / |size|), and realized = sign(size) x c x price - share
  goes to the account's PnL claim (node.venue.ledger); a flip opens the rest
  at `price`.

Each side's change in (size x mark - cost + realized) is delta x (mark -
price), so a trade moves exactly the price difference between its two sides.

A position that closes (size 0) leaves the liquidation index at once
(node.venue.triggers), so no trigger outlives its position.

Funding is settled lazily: the market keeps a cumulative index F (units per
lot); a position that last settled at index f owes size x (F - f) (longs pay
when F rose). Every touch of a position settles first and stores F.
Unrealized PnL at mark price m is size x m - cost - size x (F - f).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from node.state.view import Overlay, StateReader
from node.stf.errors import StateInvariantViolated
from node.venue.ledger import process_pnl
from node.venue.records import MarketState, Position, TriggerEntry, get_position, set_position
from node.venue.side import Side
from node.venue.triggers import process_unlink


class MarketPosition(NamedTuple):
    """An account's position in one market."""

    market_id: int
    position: Position


class TradeResult(NamedTuple):
    """A position's size and cost after a trade, and the PnL the trade realized."""

    size: int
    cost: int
    realized: int


@dataclass(frozen=True, slots=True)
class TradeOutcome:
    before: Position  # after funding settlement, before the trade
    after: Position
    realized: int
    closed_trigger: TriggerEntry | None  # the liquidation trigger removed because the position closed


def compute_sign(value: int) -> int:
    return (value > 0) - (value < 0)


def compute_trade(size: int, cost: int, delta: int, price: int) -> TradeResult:
    """The position (size, cost) after trading `delta` lots at `price`, and the realized PnL."""
    if size == 0 or compute_sign(size) == compute_sign(delta):
        return TradeResult(size + delta, cost + delta * price, 0)
    closed = min(abs(delta), abs(size))
    share = cost * closed // abs(size)
    realized = compute_sign(size) * closed * price - share
    rest = delta + compute_sign(size) * closed  # the lots that open the other side
    return TradeResult(size + delta, cost - share + rest * price, realized)


def compute_funding_owed(position: Position, funding_index: int) -> int:
    return position.size * (funding_index - position.funding_index)


def compute_unrealized(position: Position, mark: int, funding_index: int) -> int:
    return position.size * mark - position.cost - compute_funding_owed(position, funding_index)


def process_funding_settlement(overlay: Overlay, address: bytes, market_id: int, state: MarketState) -> Position:
    """Pay the funding owed since the last touch into the PnL claim; store the current index."""
    position = get_position(overlay, address, market_id)
    if position.size == 0 or position.funding_index == state.funding_index:
        return position
    process_pnl(overlay, address, -compute_funding_owed(position, state.funding_index))
    settled = position.with_funding_index(state.funding_index)
    set_position(overlay, address, market_id, settled)
    return settled


def process_trade(
    overlay: Overlay, address: bytes, market_id: int, state: MarketState, delta: int, price: int
) -> TradeOutcome:
    """Settle funding, then trade `delta` lots (buy > 0) at `price`; realized PnL goes to the claim."""
    before = process_funding_settlement(overlay, address, market_id, state)
    trade = compute_trade(before.size, before.cost, delta, price)
    after = before.with_trade(trade.size, trade.cost, state.funding_index)
    set_position(overlay, address, market_id, after)
    process_pnl(overlay, address, trade.realized)
    closed = process_unlink(overlay, market_id, address) if trade.size == 0 else None
    return TradeOutcome(before, get_position(overlay, address, market_id), trade.realized, closed)


def process_resting_lots(overlay: Overlay, address: bytes, market_id: int, side: Side, delta: int) -> None:
    """Add `delta` (may be negative) to the lots the account rests on `side` of the market's book."""
    position = get_position(overlay, address, market_id)
    if side == Side.BUY:
        position = position.with_resting(position.bid_lots + delta, position.ask_lots)
    else:
        position = position.with_resting(position.bid_lots, position.ask_lots + delta)
    if position.bid_lots < 0 or position.ask_lots < 0:
        raise StateInvariantViolated(f"resting lots of market {market_id} would go negative")
    set_position(overlay, address, market_id, position)


def get_positions(reader: StateReader, address: bytes, market_ids: tuple[int, ...]) -> tuple[MarketPosition, ...]:
    return tuple(MarketPosition(market_id, get_position(reader, address, market_id)) for market_id in market_ids)
