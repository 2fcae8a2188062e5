"""The order book: per market and side, price levels in a BitmapTrie, each a FIFO of resting orders.

Price-time priority. A level is keyed by price // tick_size; the level record
holds the ids of its first and last order, its total lots and its order
count; each order record holds its FIFO neighbours. So:

- the best price is one trie min/max (bids: highest, asks: lowest) and the
  next level one trie step, reading only levels that exist;
- adding an order appends at its level's tail (creating the level, and its
  trie bit, if new); removing one unlinks it from its neighbours (deleting
  an emptied level and its trie bit);
- matching reads the level's head, fills or removes it, and moves on: it
  touches only the levels and orders it sweeps.

Every resting order is also listed in its owner's venue account (for cancel
all and liquidation) and counted in the owner's position as resting lots
(for the initial margin requirement).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from node.state.view import Overlay, StateReader
from node.stf.errors import StateInvariantViolated
from node.venue.keys import PRICE_KEY_WIDTH, TAG_TRIE, book_scope, get_order_market
from node.venue.markets import MarketParams
from node.venue.positions import process_resting_lots
from node.venue.records import (
    Level,
    Order,
    get_level,
    get_order,
    get_venue_account,
    set_level,
    set_order,
    set_venue_account,
)
from node.venue.side import Side
from node.venue.trie import BitmapTrie

TRIE_CACHE_SIZE = 1024


class BookLevel(NamedTuple):
    """One price level of a book side as clients read it (rollup_getBook)."""

    price: int
    lots: int  # resting at that price
    orders: int  # how many orders rest there


@lru_cache(maxsize=TRIE_CACHE_SIZE)
def get_level_trie(market_id: int, side: Side) -> BitmapTrie:
    """The side's level trie (a frozen value, memoized: every order walks it)."""
    return BitmapTrie(book_scope(market_id, side) + bytes([TAG_TRIE]), PRICE_KEY_WIDTH)


def get_best_price(reader: StateReader, params: MarketParams, side: Side) -> int | None:
    """The best price resting on `side`: the highest bid or the lowest ask."""
    trie = get_level_trie(params.market_id, side)
    key = trie.get_max(reader) if side == Side.BUY else trie.get_min(reader)
    return None if key is None else key * params.tick_size


def get_next_price(reader: StateReader, params: MarketParams, side: Side, price: int) -> int | None:
    """The next worse price after `price` on `side`."""
    trie = get_level_trie(params.market_id, side)
    key = price // params.tick_size
    found = trie.get_at_or_below(reader, key - 1) if side == Side.BUY else trie.get_at_or_above(reader, key + 1)
    return None if found is None else found * params.tick_size


def get_level_at(reader: StateReader, params: MarketParams, side: Side, price: int) -> Level | None:
    return get_level(reader, params.market_id, side, price // params.tick_size)


def get_book_levels(reader: StateReader, params: MarketParams, side: Side, depth: int) -> list[BookLevel]:
    """Up to `depth` levels of `side`, best first."""
    levels: list[BookLevel] = []
    price = get_best_price(reader, params, side)
    while price is not None and len(levels) < depth:
        level = get_level_at(reader, params, side, price)
        if level is not None:
            levels.append(BookLevel(price, level.lots, level.count))
        price = get_next_price(reader, params, side, price)
    return levels


def get_required_order(reader: StateReader, order_id: int) -> Order:
    order = get_order(reader, order_id)
    if order is None:
        raise StateInvariantViolated(f"the book links to a missing order {order_id}")
    return order


# -- resting orders --


def process_rest_order(overlay: Overlay, params: MarketParams, order_id: int, order: Order) -> None:
    """Append a new order at the tail of its price level, list it in its account and count its lots."""
    market_id, key = params.market_id, order.price // params.tick_size
    level = get_level(overlay, market_id, order.side, key)
    if level is None:
        get_level_trie(market_id, order.side).process_insert(overlay, key)
        set_level(overlay, market_id, order.side, key, Level(order_id, order_id, order.lots, 1))
        set_order(overlay, order_id, order.with_links(0, 0))
    else:
        tail = get_required_order(overlay, level.tail_id)
        set_order(overlay, level.tail_id, tail.with_links(tail.prev_id, order_id))
        set_order(overlay, order_id, order.with_links(level.tail_id, 0))
        set_level(
            overlay,
            market_id,
            order.side,
            key,
            Level(level.head_id, order_id, level.lots + order.lots, level.count + 1),
        )
    account = get_venue_account(overlay, order.owner)
    set_venue_account(overlay, order.owner, account.with_orders(tuple(sorted(account.orders + (order_id,)))))
    process_resting_lots(overlay, order.owner, market_id, order.side, order.lots)


def process_remove_order(overlay: Overlay, params: MarketParams, order_id: int) -> Order:
    """Take a resting order off the book entirely (cancel, self-trade prevention, full fill)."""
    order = get_required_order(overlay, order_id)
    market_id, key = params.market_id, order.price // params.tick_size
    if order.prev_id:
        prev = get_required_order(overlay, order.prev_id)
        set_order(overlay, order.prev_id, prev.with_links(prev.prev_id, order.next_id))
    if order.next_id:
        nxt = get_required_order(overlay, order.next_id)
        set_order(overlay, order.next_id, nxt.with_links(order.prev_id, nxt.next_id))
    level = get_level(overlay, market_id, order.side, key)
    if level is None:
        raise StateInvariantViolated(f"order {order_id} rests on a missing level")
    if level.count == 1:
        set_level(overlay, market_id, order.side, key, None)
        get_level_trie(market_id, order.side).process_remove(overlay, key)
    else:
        head = order.next_id if level.head_id == order_id else level.head_id
        tail = order.prev_id if level.tail_id == order_id else level.tail_id
        set_level(overlay, market_id, order.side, key, Level(head, tail, level.lots - order.lots, level.count - 1))
    set_order(overlay, order_id, None)
    account = get_venue_account(overlay, order.owner)
    set_venue_account(overlay, order.owner, account.with_orders(tuple(o for o in account.orders if o != order_id)))
    process_resting_lots(overlay, order.owner, market_id, order.side, -order.lots)
    return order


def process_fill_resting(overlay: Overlay, params: MarketParams, order_id: int, lots: int) -> Order:
    """Take `lots` from a resting order (removing it when nothing is left); return it as it was."""
    order = get_required_order(overlay, order_id)
    if lots >= order.lots:
        return process_remove_order(overlay, params, order_id)
    key = order.price // params.tick_size
    level = get_level(overlay, params.market_id, order.side, key)
    if level is None:
        raise StateInvariantViolated(f"order {order_id} rests on a missing level")
    set_order(overlay, order_id, order.with_lots(order.lots - lots))
    set_level(
        overlay, params.market_id, order.side, key, Level(level.head_id, level.tail_id, level.lots - lots, level.count)
    )
    process_resting_lots(overlay, order.owner, params.market_id, order.side, -lots)
    return order


def get_account_orders_in(reader: StateReader, address: bytes, market_id: int) -> tuple[int, ...]:
    return tuple(o for o in get_venue_account(reader, address).orders if get_order_market(o) == market_id)
