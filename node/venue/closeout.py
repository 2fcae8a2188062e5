"""Liquidating one account that is below maintenance (BPS x equity < MMx).

The rule, applied by the end-of-block engine (node.venue.liquidation):

1. All the account's resting orders are cancelled.
2. Chunks, at most MAX_CHUNKS per account per block, while the account is
   below maintenance and holds positions: take its largest position by
   notional at the mark (ties: the lower market id) and close
       lots = min(|size|, ceil(-health / (mark x (mmf - liquidation_fee_bps))))
   the smallest size that restores maintenance if closed at the mark after
   the fee (the whole position if mmf <= the fee). So a partial liquidation
   happens exactly when closing part of the largest position suffices. If
   that did not restore maintenance (the book filled below the mark), the
   next chunk in the same market closes the whole position.
   a. Against the book: an IOC reduce order (no taker fee; the makers pay
      their maker fee) limited to the band mark -/+ oracle_band_bps and to
      the bankruptcy price widened by what the insurance fund can cover,
      b -/+ fund_available // lots, so no fill makes a deficit the fund
      cannot pay. At most MAX_LIQUIDATION_MATCH_STEPS fills per chunk.
   b. The rest: node.venue.backstop (the fund takes it over, else
      auto-deleveraging at the bankruptcy price).
   c. The liquidation fee, ceil(notional x liquidation_fee_bps / BPS) on
      the book and fund lots (not on deleveraged lots), capped at the
      equity left so it never makes a deficit, goes to the insurance fund.
3. Once no position is left, a negative equity (a deficit) is covered by
   the fund as far as its available equity goes; anything left is bad debt:
   the account's negative claim, which the conservation identity still
   counts (node.venue.ledger).
4. The account, the fund and every counterparty are settled; the account
   is re-indexed (counterparties' triggers moved with their trades, the
   fund is re-indexed if it paid a cover).
   An account still below maintenance (chunk budget spent) keeps firing
   triggers and is continued in the next block.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address
from node.state.view import Overlay
from node.stf.config import ChainConfig
from node.venue.backstop import compute_fund_available, process_backstop
from node.venue.book import process_remove_order
from node.venue.keys import get_order_market
from node.venue.ledger import process_claim_transfer, process_settle
from node.venue.margin import AccountSnapshot, MarketView, compute_equity, compute_health_x, get_account_snapshot
from node.venue.markets import BPS, MAX_PRICE, VenueConfig, get_market
from node.venue.matching import compute_fee, process_match
from node.venue.positions import MarketPosition
from node.venue.records import get_venue_account
from node.venue.reindex import process_reindex_account
from node.venue.side import Side

MAX_CHUNKS = 2
MAX_LIQUIDATION_MATCH_STEPS = 4


@dataclass(frozen=True, slots=True)
class ClosedChunk:
    market_id: int
    lots: int  # asked for
    book_lots: int
    backstop_lots: int
    by_fund: bool
    liquidation_fee: int


@dataclass(frozen=True, slots=True)
class Closeout:
    address: Address
    cancelled_orders: tuple[int, ...]
    chunks: tuple[ClosedChunk, ...]
    fund_cover: int
    bad_debt: int
    touched: frozenset[Address]  # other accounts whose positions changed


@dataclass(frozen=True, slots=True)
class ChunkOutcome:
    chunk: ClosedChunk
    touched: frozenset[Address]  # the chunk's counterparties: makers, the fund or deleveraged accounts


@dataclass(frozen=True, slots=True)
class DeficitCover:
    cover: int  # paid by the insurance fund
    bad_debt: int  # left as the account's negative claim


def compute_close_lots(health_x: int, view: MarketView, size: int) -> int:
    per_lot = view.mark * (view.params.maintenance_margin_bps - view.params.liquidation_fee_bps)
    if per_lot <= 0:
        return abs(size)
    return min(abs(size), -(health_x // per_lot))  # ceil(-health_x / per_lot)


def compute_limit_price(view: MarketView, side: Side, lots: int, equity: int, fund_budget: int) -> int | None:
    """The worst price a liquidation order of `lots` may trade at; None if no price on the tick qualifies."""
    mark, tick, band = view.mark, view.params.tick_size, view.mark * view.params.oracle_band_bps // BPS
    if side == Side.SELL:
        limit = max(mark - band, mark - equity // lots - fund_budget // lots)
        limit = max(tick, -(-limit // tick) * tick)
        return limit if limit <= MAX_PRICE else None
    limit = min(mark + band, mark + equity // lots + fund_budget // lots, MAX_PRICE)
    limit = limit // tick * tick
    return limit if limit >= tick else None


def get_largest_position(s: AccountSnapshot) -> MarketPosition:
    """The open position with the largest notional at the mark; ties: the lower market id."""
    return min(
        s.open_positions(), key=lambda held: (-abs(held.position.size) * s.markets[held.market_id].mark, held.market_id)
    )


def process_liquidate_account(overlay: Overlay, config: ChainConfig, venue: VenueConfig, address: Address) -> Closeout:
    cancelled = process_cancel_every_order(overlay, address)
    chunks: list[ClosedChunk] = []
    touched: set[Address] = set()
    tried: set[int] = set()
    for _ in range(MAX_CHUNKS):
        s = get_account_snapshot(overlay, address)
        health = compute_health_x(s)
        if health >= 0 or not s.open_positions():
            break
        market_id, position = get_largest_position(s)
        view = s.markets[market_id]
        lots = abs(position.size) if market_id in tried else compute_close_lots(health, view, position.size)
        tried.add(market_id)
        outcome = process_close_chunk(overlay, config, venue, s, view, position.size, lots)
        chunks.append(outcome.chunk)
        touched |= outcome.touched
    deficit = process_cover_deficit(overlay, venue, address)
    for account in (address, venue.insurance_fund, *sorted(touched)):
        process_settle(overlay, account)
    process_reindex_account(overlay, address)
    if deficit.cover:  # paying a cover lowers the fund's health; fees only raise it, trades moved its trigger already
        process_reindex_account(overlay, venue.insurance_fund)
    touched.discard(address)
    return Closeout(
        address, cancelled, tuple(chunks), deficit.cover, deficit.bad_debt, frozenset(touched | {venue.insurance_fund})
    )


def process_cancel_every_order(overlay: Overlay, address: Address) -> tuple[int, ...]:
    orders = get_venue_account(overlay, address).orders
    for order_id in orders:
        process_remove_order(overlay, get_market(overlay, get_order_market(order_id)), order_id)
    return orders


def process_close_chunk(
    overlay: Overlay,
    config: ChainConfig,
    venue: VenueConfig,
    s: AccountSnapshot,
    view: MarketView,
    size: int,
    lots: int,
) -> ChunkOutcome:
    """Close `lots` of the position of `size`: on the book within the limit price, the rest off it."""
    address, fund = s.address, venue.insurance_fund
    side = Side.of_position(size).opposite
    budget = 0 if address == fund else compute_fund_available(overlay, fund)
    limit = compute_limit_price(view, side, lots, compute_equity(s), budget)
    book_lots, notional, touched = 0, 0, set()
    if limit is not None:
        match = process_match(overlay, config, view, address, side, lots, limit, 0, MAX_LIQUIDATION_MATCH_STEPS)
        book_lots, notional = match.filled, match.notional
        touched |= {f.maker for f in match.fills}
    backstop_lots, by_fund = 0, False
    if lots > book_lots:
        result = process_backstop(overlay, view, fund, address, side, lots - book_lots)
        backstop_lots, by_fund = result.lots, result.by_fund
        touched |= result.touched
        if by_fund:
            notional += result.lots * result.price
    fee = min(
        compute_fee(notional, view.params.liquidation_fee_bps),
        max(0, compute_equity(get_account_snapshot(overlay, address))),
    )
    process_claim_transfer(overlay, address, fund, fee)
    chunk = ClosedChunk(view.params.market_id, lots, book_lots, backstop_lots, by_fund, fee)
    return ChunkOutcome(chunk, frozenset(touched))


def process_cover_deficit(overlay: Overlay, venue: VenueConfig, address: Address) -> DeficitCover:
    """Cover a negative equity from the fund as far as it can, once the account holds no position."""
    s = get_account_snapshot(overlay, address)
    deficit = -compute_equity(s)
    if s.open_positions() or deficit <= 0:
        return DeficitCover(0, 0)
    cover = (
        0 if address == venue.insurance_fund else min(deficit, compute_fund_available(overlay, venue.insurance_fund))
    )
    process_claim_transfer(overlay, venue.insurance_fund, address, cover)
    return DeficitCover(cover, deficit - cover)
