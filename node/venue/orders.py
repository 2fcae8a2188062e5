"""Handlers of place_order, cancel_order and cancel_all.

Place order, in order (each rejection leaves state untouched):

1. static checks (`validate_place_order`, also run by the mempool): market,
   side, type, flags, size 1..MAX_ORDER_LOTS, price 1..MAX_PRICE on the
   tick, reduce-only only as IOC, the market has an oracle price. A side,
   type or flag code that names nothing arrives as a MiscodedPlaceOrder
   (node.venue.payloads), rejected after the market checks by
   `validate_miscoded_place_order`;
2. reduce-only: the account must hold a position on the other side; the size
   is clipped to it, so the order can only reduce;
3. post-only: rejected if it would cross the best opposite price;
4. the order gets id (market << 48) | seq and matches (node.venue.matching);
5. the remainder: IOC -> cancelled; GTC / post-only -> rests at its price,
   unless the match-step budget ran out while the book still crossed (then
   it is cancelled too, so a resting order never crosses the book);
6. limits: at most MAX_OPEN_ORDERS resting orders and MAX_MARKETS markets
   per account;
7. margin after everything: equity >= initial margin (resting orders
   included); a reduce-only order needs only equity >= maintenance;
8. the sender's funding and claim and the fee recipient's claim settle, and
   the sender is re-indexed (node.venue.reindex). Every venue transaction
   ends with this step, so any of them (cancel_all of an empty market is the
   cheapest) settles and refreshes an account.

Self-trade prevention cancels the sender's own resting order met while
matching (the older order goes, the incoming one continues).
"""

from __future__ import annotations

from dataclasses import dataclass

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.stf.handlers import Signed
from node.venue.book import get_account_orders_in, get_best_price, process_remove_order, process_rest_order
from node.venue.errors import (
    InvalidFlag,
    InvalidOrderType,
    InvalidPrice,
    InvalidSide,
    InvalidSize,
    NotOrderOwner,
    OraclePriceNotSet,
    PostOnlyWouldCross,
    ReduceOnlyRejected,
    TooManyMarkets,
    TooManyOpenOrders,
    UnknownOrder,
    VenueError,
)
from node.venue.keys import compute_order_id, get_order_market
from node.venue.ledger import process_settle
from node.venue.margin import MarketView, get_account_snapshot, validate_initial_margin, validate_maintenance_margin
from node.venue.markets import MAX_PRICE, MarketParams, get_market, get_required_venue_config
from node.venue.matching import MatchResult, is_crossing, process_match
from node.venue.payloads import (
    CancelAll,
    CancelOrder,
    MiscodedPlaceOrder,
    OrderType,
    PlaceOrder,
    is_known_order_type,
    is_known_side,
)
from node.venue.positions import process_funding_settlement
from node.venue.record_cache import RecordOverlay
from node.venue.records import Order, get_market_state, get_order, get_position, get_venue_account, set_market_state
from node.venue.reindex import process_reindex_account
from node.venue.side import Side

MAX_ORDER_LOTS = 1 << 40
MAX_OPEN_ORDERS = 8
MAX_MARKETS = 8


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    order_id: int
    lots: int  # after a reduce-only clip
    match: MatchResult
    rested: int  # lots left resting on the book


# -- checks (read-only) --


def validate_place_order(reader: StateReader, config: ChainConfig, tx: Signed[PlaceOrder]) -> None:
    order = tx.payload
    get_required_venue_config(reader)
    params = get_market(reader, order.market_id)
    if not 1 <= order.size <= MAX_ORDER_LOTS:
        raise InvalidSize(order.size, MAX_ORDER_LOTS)
    if not 1 <= order.price <= MAX_PRICE:
        raise InvalidPrice(order.price, f"must be in [1, {MAX_PRICE}]")
    if order.price % params.tick_size:
        raise InvalidPrice(order.price, f"not a multiple of the tick size {params.tick_size}")
    if order.reduce_only and order.order_type is not OrderType.IOC:
        raise ReduceOnlyRejected("a reduce-only order must be IOC (it never rests)")
    if get_market_state(reader, order.market_id).oracle_price == 0:
        raise OraclePriceNotSet(order.market_id)


def validate_miscoded_place_order(reader: StateReader, config: ChainConfig, tx: Signed[MiscodedPlaceOrder]) -> None:
    """Always raises: the venue and market errors first, as for any order, then the bad code's."""
    get_required_venue_config(reader)
    get_market(reader, tx.payload.market_id)
    raise compute_code_error(tx.payload)


def compute_code_error(order: MiscodedPlaceOrder) -> VenueError:
    """The error of its first code that names nothing: the side, else the order type, else reduce-only."""
    if not is_known_side(order.side):
        return InvalidSide(order.side)
    if not is_known_order_type(order.order_type):
        return InvalidOrderType(order.order_type)
    return InvalidFlag("reduce_only", order.reduce_only)  # a MiscodedPlaceOrder has at least one bad code


def validate_cancel_order(reader: StateReader, config: ChainConfig, tx: Signed[CancelOrder]) -> None:
    order = get_order(reader, tx.payload.order_id)
    if order is None:
        raise UnknownOrder(tx.payload.order_id)
    if order.owner != tx.sender:
        raise NotOrderOwner(tx.payload.order_id, order.owner)


def validate_cancel_all(reader: StateReader, config: ChainConfig, tx: Signed[CancelAll]) -> None:
    get_required_venue_config(reader)
    get_market(reader, tx.payload.market_id)


# -- application --


def apply_place_order(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[PlaceOrder]) -> None:
    records = RecordOverlay(overlay)  # each record decoded once and encoded once (node.venue.record_cache)
    process_place_order(records, config, tx.sender, tx.payload)
    records.merge_into(overlay)


def apply_miscoded_place_order(
    overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[MiscodedPlaceOrder]
) -> None:
    """Changes nothing: raises the error its validation raises (the core validates before applying)."""
    validate_miscoded_place_order(overlay, config, tx)


def process_place_order(overlay: Overlay, config: ChainConfig, sender: Address, order: PlaceOrder) -> OrderOutcome:
    params = get_market(overlay, order.market_id)
    lots = compute_order_lots(overlay, sender, order)
    validate_post_only(overlay, order, params)
    state = get_market_state(overlay, order.market_id)
    state = state.with_order_seq(state.order_seq + 1)
    set_market_state(overlay, order.market_id, state)
    order_id = compute_order_id(order.market_id, state.order_seq)
    view = MarketView(params, state)
    match = process_match(overlay, config, view, sender, order.side, lots, order.price, params.taker_fee_bps)
    rested = lots - match.filled if order.order_type.rests and not match.stopped else 0
    if rested:
        if len(get_venue_account(overlay, sender).orders) >= MAX_OPEN_ORDERS:
            raise TooManyOpenOrders(MAX_OPEN_ORDERS)
        process_rest_order(
            overlay, params, order_id, Order(sender, order.side, order.price, rested, order.client_order_id)
        )
    if len(get_venue_account(overlay, sender).markets) > MAX_MARKETS:
        raise TooManyMarkets(MAX_MARKETS)
    snapshot = get_account_snapshot(overlay, sender)
    (validate_maintenance_margin if order.reduce_only else validate_initial_margin)(snapshot)
    process_finish_sender(overlay, config, sender)
    return OrderOutcome(order_id, lots, match, rested)


def compute_order_lots(reader: StateReader, sender: bytes, order: PlaceOrder) -> int:
    """The order's size, clipped to the opposite position for reduce-only."""
    if not order.reduce_only:
        return order.size
    size = get_position(reader, sender, order.market_id).size
    if size == 0 or Side.of_position(size) == order.side:
        raise ReduceOnlyRejected("the account holds no position on the other side")
    return min(order.size, abs(size))


def validate_post_only(reader: StateReader, order: PlaceOrder, params: MarketParams) -> None:
    if order.order_type is not OrderType.POST_ONLY:
        return
    best = get_best_price(reader, params, order.side.opposite)
    if best is not None and is_crossing(order.side, order.price, best):
        raise PostOnlyWouldCross(order.price, best)


def apply_cancel_order(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[CancelOrder]) -> None:
    order_id = tx.payload.order_id
    records = RecordOverlay(overlay)
    process_remove_order(records, get_market(records, get_order_market(order_id)), order_id)
    process_finish_sender(records, config, tx.sender)
    records.merge_into(overlay)


def apply_cancel_all(overlay: Overlay, config: ChainConfig, ctx: BlockContext, tx: Signed[CancelAll]) -> None:
    records = RecordOverlay(overlay)
    process_cancel_all(records, tx.sender, tx.payload.market_id)
    process_finish_sender(records, config, tx.sender)
    records.merge_into(overlay)


def process_cancel_all(overlay: Overlay, address: bytes, market_id: int) -> tuple[int, ...]:
    params = get_market(overlay, market_id)
    orders = get_account_orders_in(overlay, address, market_id)
    for order_id in orders:
        process_remove_order(overlay, params, order_id)
    return orders


def process_finish_sender(overlay: Overlay, config: ChainConfig, sender: bytes) -> None:
    """After any venue transaction: settle the sender's funding and claims and the fee recipient's claim,
    then re-index the sender."""
    for market_id in get_venue_account(overlay, sender).markets:
        process_funding_settlement(overlay, sender, market_id, get_market_state(overlay, market_id))
    process_settle(overlay, sender)
    process_settle(overlay, config.fee_recipient)
    process_reindex_account(overlay, sender)
