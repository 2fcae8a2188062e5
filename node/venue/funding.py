"""Funding: at each funding interval, the market's cumulative index moves by the capped premium.

Run at the end of every block (before the liquidation scan), per market with
an oracle price: when the block timestamp enters a new interval,
epoch = timestamp_ms // funding_interval_ms > the stored epoch, the index F
(units per lot) moves once:

    premium = mid - oracle,  mid = (best bid + best ask) // 2   (0 if a side is empty)
    cap     = oracle x funding_cap_bps // BPS
    F      += clamp(premium, -cap, +cap)

A positive premium (the book above the oracle) makes longs pay shorts:
a long owes size x (F - f) (node.venue.positions), settled lazily when the
position is next touched. However many intervals a block gap skips, the
index moves once (the premium is only observed now). The move shifts the
market's liquidation coordinates, which the scan picks up.
"""

from __future__ import annotations

from dataclasses import replace

from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext
from node.venue.book import get_best_price
from node.venue.markets import BPS, MarketParams, get_market, get_venue_config
from node.venue.records import MarketState, get_market_state, set_market_state
from node.venue.side import Side


def compute_funding_step(params: MarketParams, state: MarketState, best_bid: int | None, best_ask: int | None) -> int:
    if best_bid is None or best_ask is None:
        return 0
    premium = (best_bid + best_ask) // 2 - state.oracle_price
    cap = state.oracle_price * params.funding_cap_bps // BPS
    return max(-cap, min(cap, premium))


def get_funding_step(reader: StateReader, params: MarketParams, state: MarketState) -> int:
    best_bid, best_ask = get_best_price(reader, params, Side.BUY), get_best_price(reader, params, Side.SELL)
    return compute_funding_step(params, state, best_bid, best_ask)


def process_market_funding(overlay: Overlay, market_id: int, timestamp_ms: int) -> int:
    """Apply this block's funding step to one market (if it entered a new interval); return the step."""
    params = get_market(overlay, market_id)
    state = get_market_state(overlay, market_id)
    epoch = timestamp_ms // params.funding_interval_ms
    if epoch <= state.funding_epoch or state.oracle_price == 0:
        return 0
    step = get_funding_step(overlay, params, state)
    set_market_state(overlay, market_id, replace(state, funding_index=state.funding_index + step, funding_epoch=epoch))
    return step


def process_funding(overlay: Overlay, ctx: BlockContext) -> None:
    venue = get_venue_config(overlay)
    if venue is None:
        return
    for market_id in venue.market_ids:
        process_market_funding(overlay, market_id, ctx.timestamp_ms)
