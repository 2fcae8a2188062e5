"""The venue through the client (sans-IO, see node.client.sansio): markets, books, positions, orders, oracle.

Reads return the node's JSON as documented in README "JSON-RPC" (plain
dicts). Writes build node.venue.payloads records: a market is named by its
symbol (any case) or id. Sizes and prices are human text or raw integers:
a str or Decimal (`"0.001"` BTC, `"20.5"` quote per BTC) is converted exactly
with the market's declared decimals (node.units.parse_size / parse_price;
refused, naming the nearest valid values, when it is not a whole number of
lots or ticks); an int is raw (lots, units per lot). An
order without a price is IOC at the oracle price +/- 10 %; an oracle update
is stamped with the wall clock, never more than half the allowed lead past
the L2 head and always after the market's last update.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from node.client.errors import ClientError, InputError, ResponseError
from node.client.inputs import AddressLike, BlockLike, to_address, to_block, to_uint
from node.client.sansio import Call, Op
from node.crypto import to_checksum_address
from node.units import AmountError, MarketUnits, parse_price, parse_size
from node.venue.markets import MAX_PRICE
from node.venue.oracle import ORACLE_MAX_AHEAD_MS
from node.venue.orders import MAX_ORDER_LOTS
from node.venue.payloads import CancelAll, CancelOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.side import Side

ORDER_TYPES = {"limit": OrderType.GTC, "ioc": OrderType.IOC, "post-only": OrderType.POST_ONLY}
MARKET_SLIPPAGE_BPS = 1000  # an order without a price: IOC at the oracle price +/- 10 %
ORACLE_FEED_AHEAD_MS = ORACLE_MAX_AHEAD_MS // 2  # oracle timestamps at most this far past the L2 head
MAX_BOOK_DEPTH = 500

MarketLike = int | str
SizeLike = int | str | Decimal  # str / Decimal: human (base asset); int: lots
PriceLike = int | str | Decimal  # str / Decimal: human (quote per one base); int: units per lot


def _list(reply: Any, method: str) -> list[Any]:
    if not isinstance(reply, list):
        raise ResponseError(f"{method}: expected an array, got {type(reply).__name__}")
    return reply


def _dict(reply: Any, method: str) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise ResponseError(f"{method}: expected an object, got {type(reply).__name__}")
    return reply


def markets(url: str) -> Op[list[dict[str, Any]]]:
    """rollup_getMarkets: id, symbol, oraclePrice, oracleTimestamp, bestBid, bestAsk, tickSize, maxLeverage..."""
    return _list((yield Call(url, "rollup_getMarkets")), "rollup_getMarkets")


def find_market(all_markets: list[dict[str, Any]], market: MarketLike) -> dict[str, Any]:
    """The market named by symbol (any case) or id (int or digits)."""
    if not all_markets:
        raise ClientError("this chain has no venue markets")
    if isinstance(market, bool) or not isinstance(market, int | str):
        raise InputError(f"market must be a symbol or an id, got {type(market).__name__}")
    text = str(market).strip()
    for entry in all_markets:
        if text.upper() == entry["symbol"] or (text.isdigit() and int(text) == entry["id"]):
            return entry
    raise InputError(f"unknown market {text!r} (markets: {', '.join(m['symbol'] for m in all_markets)})")


def market(url: str, name: MarketLike) -> Op[dict[str, Any]]:
    return find_market((yield from markets(url)), name)


def book(url: str, name: MarketLike, depth: int = 10, block: BlockLike = "latest") -> Op[dict[str, Any]]:
    """rollup_getBook: symbol, blockNumber, oraclePrice, bids and asks ({price, size, orders}), best first."""
    depth = to_uint(depth, "depth", MAX_BOOK_DEPTH, 1)
    if isinstance(name, bool) or not isinstance(name, int | str):
        raise InputError(f"market must be a symbol or an id, got {type(name).__name__}")
    wire: int | str = int(name) if isinstance(name, str) and name.isdigit() else name
    return _dict((yield Call(url, "rollup_getBook", (wire, depth, to_block(block)))), "rollup_getBook")


def positions(url: str, address: AddressLike, block: BlockLike = "latest") -> Op[list[dict[str, Any]]]:
    args = (to_checksum_address(to_address(address)), to_block(block))
    return _list((yield Call(url, "rollup_getPositions", args)), "rollup_getPositions")


def orders(url: str, address: AddressLike, block: BlockLike = "latest") -> Op[list[dict[str, Any]]]:
    args = (to_checksum_address(to_address(address)), to_block(block))
    return _list((yield Call(url, "rollup_getOrders", args)), "rollup_getOrders")


def insurance(url: str) -> Op[dict[str, Any]]:
    return _dict((yield Call(url, "rollup_getInsurance")), "rollup_getInsurance")


# ---------------------------------------------------------------- human units


def market_units(entry: dict[str, Any]) -> MarketUnits | None:
    """The market's human-unit conversions from its rollup_getMarkets row (None without declared decimals)."""
    if entry.get("baseDecimals") is None or entry.get("quoteDecimals") is None:
        return None
    try:
        return MarketUnits(
            entry["symbol"],
            int(entry["lotSize"]),
            int(entry["tickSize"]),
            int(entry["baseDecimals"]),
            int(entry["quoteDecimals"]),
            MAX_PRICE,
            MAX_ORDER_LOTS,
        )
    except AmountError as exc:
        raise ResponseError(f"the node describes {entry['symbol']} inconsistently: {exc}") from None


def _human_units(entry: dict[str, Any], what: str, raw: str) -> MarketUnits:
    units = market_units(entry)
    if units is None:
        raise InputError(f"{entry['symbol']} declares no base/quote decimals: give the {what} as an int ({raw})")
    return units


def to_lots(entry: dict[str, Any], size: SizeLike) -> int:
    """An order size in lots: an int is lots already, text or a Decimal is the base asset (`"0.001"`)."""
    if isinstance(size, bool) or not isinstance(size, int | str | Decimal):
        raise InputError(f"size must be text, a Decimal or an int of lots, got {type(size).__name__}")
    if isinstance(size, int):
        return to_uint(size, "size")
    try:
        return parse_size(str(size).strip(), _human_units(entry, "size", "lots"), "size")
    except AmountError as exc:
        raise InputError(str(exc)) from None


def to_price_units(entry: dict[str, Any], price: PriceLike, what: str = "price") -> int:
    """A price in units per lot: an int is units already, text or a Decimal is quote per one base (`"20.5"`)."""
    if isinstance(price, bool) or not isinstance(price, int | str | Decimal):
        raise InputError(f"{what} must be text, a Decimal or an int of units per lot, got {type(price).__name__}")
    if isinstance(price, int):
        return to_uint(price, what)
    try:
        return parse_price(str(price).strip(), _human_units(entry, what, "units per lot"), what)
    except AmountError as exc:
        raise InputError(str(exc)) from None


# ---------------------------------------------------------------- payloads


def order_payload(
    entry: dict[str, Any],
    side: str,
    size: SizeLike,
    price: PriceLike | None = None,
    order_type: str | None = None,
    reduce_only: bool = False,
    client_id: int | str = 0,
) -> tuple[PlaceOrder, str]:
    """The PlaceOrder for market `entry` (from rollup_getMarkets) and its type's name.

    order_type: "limit" (the default with a price), "ioc" or "post-only"; without a price the order is IOC
    at the oracle price +/- 10 %.
    """
    if side not in ("buy", "sell"):
        raise InputError(f"side must be 'buy' or 'sell', got {side!r}")
    if order_type is not None and order_type not in ORDER_TYPES:
        raise InputError(f"order type must be one of {', '.join(ORDER_TYPES)}, got {order_type!r}")
    lots = to_lots(entry, size)
    if lots == 0:
        raise InputError("size must be at least 1 lot")
    if price is not None:
        limit = to_price_units(entry, price)
        kind = order_type or "limit"
    else:
        if order_type not in (None, "ioc"):
            raise InputError(
                "an order without a price is IOC at the oracle price +/- 10%: give a price for limit/post-only"
            )
        if not entry.get("oraclePrice"):
            raise ClientError(f"{entry['symbol']} has no oracle price yet: give a price")
        tick, oracle = int(entry["tickSize"]), int(entry["oraclePrice"])
        bound = oracle * (10_000 + (MARKET_SLIPPAGE_BPS if side == "buy" else -MARKET_SLIPPAGE_BPS)) // 10_000
        limit = max(tick, bound // tick * tick)
        kind = "ioc"
    payload = PlaceOrder(
        int(entry["id"]),
        Side.from_label(side),
        lots,
        limit,
        ORDER_TYPES[kind],
        bool(reduce_only),
        to_uint(client_id, "client id"),
    )
    return payload, kind


def cancel_payload(order_id: int | str) -> CancelOrder:
    return CancelOrder(to_uint(order_id, "order id"))


def cancel_all_payload(entry: dict[str, Any]) -> CancelAll:
    return CancelAll(int(entry["id"]))


def oracle_timestamp(url: str, last_ms: int) -> Op[int]:
    """Chain time in ms for an oracle update, after the market's last update: the wall clock, kept between
    the L2 head's timestamp and ORACLE_FEED_AHEAD_MS past it. Past it: a chain whose clock lags (its L1
    origin behind under load) refuses updates over ORACLE_MAX_AHEAD_MS ahead of a block. Not below it: a
    devnet whose time was moved forward (devnet_increaseTime) stamps blocks ahead of the wall clock, and an
    update stamped in the past would be older than the ones stamped in chain time."""
    head = yield Call(url, "rollup_getBlockByNumber", ("latest", False))
    now = int(time.time() * 1000)
    if isinstance(head, dict) and isinstance(head.get("timestamp"), int):
        now = max(head["timestamp"], min(now, head["timestamp"] + ORACLE_FEED_AHEAD_MS))
    return max(now, last_ms + 1)


def oracle_payload(
    url: str, entry: dict[str, Any], price: PriceLike, timestamp_ms: int | None = None
) -> Op[OracleUpdate]:
    """An OracleUpdate of market `entry` to `price` (human text or units per lot), stamped by oracle_timestamp
    unless given."""
    value = to_price_units(entry, price)
    if value < 1:
        raise InputError("price must be at least 1 unit per lot")
    if timestamp_ms is None:
        timestamp_ms = yield from oracle_timestamp(url, int(entry.get("oracleTimestamp") or 0))
    return OracleUpdate(int(entry["id"]), value, to_uint(timestamp_ms, "timestamp_ms"))
