"""Handlers of place_order, cancel_order and cancel_all.

Place order, in order (each rejection leaves state untouched):

1. static checks (`validate_place_order`, also run by the mempool): market,
   side, type, flags, size 1..MAX_ORDER_LOTS, price 1..MAX_PRICE on the
   tick, reduce-only only as IOC, the market has an oracle price;
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

from dataclasses import dataclass, replace

from node.crypto import Address
from node.state.view import Overlay, StateReader
from node.stf.config import BlockContext, ChainConfig
from node.tx import RecoveredTx
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
)
from node.venue.keys import compute_order_id, get_order_market
from node.venue.ledger import process_settle
from node.venue.margin import MarketView, get_account_snapshot, validate_initial_margin, validate_maintenance_margin
from node.venue.markets import MAX_PRICE, MarketParams, get_market, get_required_venue_config
from node.venue.matching import MatchResult, is_crossing, process_match
from node.venue.payloads import ORDER_GTC, ORDER_IOC, ORDER_POST_ONLY, SIDE_BUY, SIDE_SELL, CancelAll, CancelOrder, PlaceOrder
from node.venue.records import Order, get_market_state, get_order, get_position, get_venue_account, set_market_state
from node.venue.positions import process_funding_settlement
from node.venue.reindex import process_reindex_account

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


def validate_place_order(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    order: PlaceOrder = rtx.tx.payload  # type: ignore[union-attr]
    get_required_venue_config(reader)
    params = get_market(reader, order.market_id)
    if order.side not in (SIDE_BUY, SIDE_SELL):
        raise InvalidSide(order.side)
    if order.order_type not in (ORDER_GTC, ORDER_IOC, ORDER_POST_ONLY):
        raise InvalidOrderType(order.order_type)
    if order.reduce_only not in (0, 1):
        raise InvalidFlag("reduce_only", order.reduce_only)
    if not 1 <= order.size <= MAX_ORDER_LOTS:
        raise InvalidSize(order.size, MAX_ORDER_LOTS)
    if not 1 <= order.price <= MAX_PRICE:
        raise InvalidPrice(order.price, f"must be in [1, {MAX_PRICE}]")
    if order.price % params.tick_size:
        raise InvalidPrice(order.price, f"not a multiple of the tick size {params.tick_size}")
    if order.reduce_only and order.order_type != ORDER_IOC:
        raise ReduceOnlyRejected("a reduce-only order must be IOC (it never rests)")
    if get_market_state(reader, order.market_id).oracle_price == 0:
        raise OraclePriceNotSet(order.market_id)


def validate_cancel_order(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    cancel: CancelOrder = rtx.tx.payload  # type: ignore[union-attr]
    order = get_order(reader, cancel.order_id)
    if order is None:
        raise UnknownOrder(cancel.order_id)
    if order.owner != rtx.sender:
        raise NotOrderOwner(cancel.order_id, order.owner)


def validate_cancel_all(reader: StateReader, config: ChainConfig, rtx: RecoveredTx) -> None:
    cancel: CancelAll = rtx.tx.payload  # type: ignore[union-attr]
    get_required_venue_config(reader)
    get_market(reader, cancel.market_id)


# -- application --


def apply_place_order(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    process_place_order(overlay, config, rtx.sender, rtx.tx.payload)  # type: ignore[union-attr]


def process_place_order(overlay: Overlay, config: ChainConfig, sender: Address, order: PlaceOrder) -> OrderOutcome:
    params = get_market(overlay, order.market_id)
    lots = compute_order_lots(overlay, sender, order)
    validate_post_only(overlay, order, params)
    state = get_market_state(overlay, order.market_id)
    state = replace(state, order_seq=state.order_seq + 1)
    set_market_state(overlay, order.market_id, state)
    order_id = compute_order_id(order.market_id, state.order_seq)
    view = MarketView(params, state)
    match = process_match(overlay, config, view, sender, order.side, lots, order.price, params.taker_fee_bps)
    rested = lots - match.filled if order.order_type != ORDER_IOC and not match.stopped else 0
    if rested:
        if len(get_venue_account(overlay, sender).orders) >= MAX_OPEN_ORDERS:
            raise TooManyOpenOrders(MAX_OPEN_ORDERS)
        process_rest_order(overlay, params, order_id, Order(sender, order.side, order.price, rested, order.client_order_id))
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
    if size == 0 or (size > 0) == (order.side == SIDE_BUY):
        raise ReduceOnlyRejected("the account holds no position on the other side")
    return min(order.size, abs(size))


def validate_post_only(reader: StateReader, order: PlaceOrder, params: MarketParams) -> None:
    if order.order_type != ORDER_POST_ONLY:
        return
    best = get_best_price(reader, params, 1 - order.side)
    if best is not None and is_crossing(order.side, order.price, best):
        raise PostOnlyWouldCross(order.price, best)


def apply_cancel_order(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    cancel: CancelOrder = rtx.tx.payload  # type: ignore[union-attr]
    process_remove_order(overlay, get_market(overlay, get_order_market(cancel.order_id)), cancel.order_id)
    process_finish_sender(overlay, config, rtx.sender)


def apply_cancel_all(overlay: Overlay, config: ChainConfig, ctx: BlockContext, rtx: RecoveredTx) -> None:
    cancel: CancelAll = rtx.tx.payload  # type: ignore[union-attr]
    process_cancel_all(overlay, rtx.sender, cancel.market_id)
    process_finish_sender(overlay, config, rtx.sender)


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
