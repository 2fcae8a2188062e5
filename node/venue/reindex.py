"""Keeping an account's liquidation triggers valid: full re-indexing and the cheap update after a fill.

Full (`process_reindex_account`), run for the sender of every venue
transaction and for every account the liquidation engine touches: read all
the account's positions, store its reserve floor (node.venue.margin), split
its reserved health S over its open positions in proportion to their
notional at the mark (rounded down, so the slacks never add up to more than
S), and place each position's trigger. S < 0 (the account is under
maintenance) gives negative slacks: triggers that fire now.

Incremental (`process_trigger_after_fill`), run for a maker whose resting
order filled: only the filled market's trigger moves. The fill changes the
account's health by dH = BPS x (delta x (mark - price) - fee) - (|size'| -
|size|) x mark x mmf; the position's remaining slack r = size x (X - T) takes
all of it, so the other triggers stay valid without being read. If r + dH < 0
or the position had no trigger (a first fill), the account is re-indexed in
full.
"""

from __future__ import annotations

from node.state.view import Overlay
from node.venue.margin import MarketView, compute_reserve, get_account_snapshot
from node.venue.markets import BPS
from node.venue.records import TriggerEntry, get_trigger_entry, get_venue_account, set_venue_account
from node.venue.triggers import compute_remaining_slack, compute_side_coordinate, process_place_trigger


def process_reindex_account(overlay: Overlay, address: bytes) -> bool:
    """Recompute the account's reserve floor and every trigger; return whether any fires now."""
    s = get_account_snapshot(overlay, address)
    reserve = compute_reserve(s)
    account = get_venue_account(overlay, address)
    if account.floor != reserve.floor:
        set_venue_account(overlay, address, account.with_floor(reserve.floor))
    notional = {m: abs(p.size) * s.markets[m].mark for m, p in s.positions}
    total = sum(notional.values())
    firing = False
    for market_id, position in s.positions:
        view = s.markets[market_id]
        if position.size == 0:
            process_place_trigger(overlay, market_id, address, 0, 0, 0)
            continue
        slack = reserve.health_x * notional[market_id] // total if total else reserve.health_x
        x = compute_side_coordinate(view.params, view.state, position.size)
        firing |= process_place_trigger(overlay, market_id, address, position.size, x, slack)
    return firing


def compute_fill_health_delta(view: MarketView, size_before: int, size_after: int, price: int, fee: int) -> int:
    """dH of one fill (delta = size_after - size_before lots at `price`, paying `fee`)."""
    mark = view.mark
    equity_delta = (size_after - size_before) * (mark - price) - fee
    maintenance_delta = (abs(size_after) - abs(size_before)) * mark * view.params.maintenance_margin_bps
    return BPS * equity_delta - maintenance_delta


def process_trigger_after_fill(
    overlay: Overlay,
    address: bytes,
    market_id: int,
    view: MarketView,
    size_after: int,
    health_delta: int,
    closed_entry: TriggerEntry | None = None,
) -> bool:
    """Move only this market's trigger when the slack it holds absorbs `health_delta`; else re-index fully.

    `closed_entry` is the trigger the trade removed when it closed the position.
    """
    entry = closed_entry or get_trigger_entry(overlay, market_id, address)
    if entry is None:
        return process_reindex_account(overlay, address)
    slack = compute_remaining_slack(entry, compute_side_coordinate(view.params, view.state, entry.size)) + health_delta
    if slack < 0:
        return process_reindex_account(overlay, address)
    x = compute_side_coordinate(view.params, view.state, size_after) if size_after else 0
    return process_place_trigger(overlay, market_id, address, size_after, x, slack)
