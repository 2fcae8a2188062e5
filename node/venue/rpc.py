"""The venue's read JSON-RPC, served by every L2 node next to node.l2rpc's methods.

| method                                   | result                                                        |
|------------------------------------------|---------------------------------------------------------------|
| rollup_getMarkets([block])               | [{id, symbol, tickSize, lotSize, *Bps, maxLeverage, fundingIntervalMs, oraclePrice, oracleTimestamp, fundingIndex, bestBid, bestAsk, baseDecimals, quoteDecimals}] |
| rollup_getBook(market, [depth, block])   | {market, symbol, blockNumber, oraclePrice, bids: [{price, size, orders}], asks: [...]} best first |
| rollup_getPositions(address, [block])    | [{market, symbol, size (signed, long > 0), entryPrice, markPrice, unrealizedPnl, marginRatio, liquidationPrice}] |
| rollup_getOrders(address, [block])       | [{id, market, symbol, side "buy"/"sell", price, size (remaining lots), clientOrderId}] |
| rollup_getInsurance([block])             | {address, balance, pnl, equity, available, oracle, pnlPool: {address, balance}, positions} |

`market` is a market id (integer) or its symbol ("BTC-PERP", any case).
Prices and sizes are JSON integers (price < 2^48, lots < 2^64); amounts of
the native unit (balances, PnL, equity) are decimal strings, like
rollup_getBalance.

Human units beside the integers: every price, size and amount field `<f>`
has a `<f>Decimal` twin, an exact decimal string in human units (node.units:
no trailing zeros, `-` when negative, null when `<f>` is null); the integers
are unchanged. Prices (price, oraclePrice, bestBid, bestAsk, entryPrice,
markPrice, liquidationPrice, tickSize, fundingIndex) are quote per 1 whole
base, sizes (size, lotSize) whole base units: both only for a market that
declares `baseDecimals` / `quoteDecimals` (rollup_getMarkets reports them,
null when undeclared; the twins are then left out). Amounts (balance, pnl,
unrealizedPnl, equity, available) are in the native unit (18 decimals, eth):
`"balance": "1500000000000000000", "balanceDecimal": "1.5"`. `marginRatio` is the account's cross-margin ratio
maintenance requirement / equity (liquidatable above 1; null without equity
or positions); `liquidationPrice` is the last mark of that position's market
(other marks unchanged) at which the account is not yet liquidatable: one
tick of 1 unit further and it is (null when no such positive price exists). Bad input answers -32602 (InvalidParams).
A chain without a venue answers [] for markets / positions / orders and
-31090 (VenueNotConfigured) for a book or the insurance fund.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from node.crypto import to_checksum_address
from node.rpc.errors import InvalidParams
from node.rpc.params import address, block_tag, positional, uint
from node.state.schema import get_account
from node.state.view import StateReader
from node.units import UNITS, MarketUnits, format_price, format_size, format_units
from node.venue.backstop import compute_fund_available
from node.venue.book import get_best_price, get_book_levels
from node.venue.errors import VenueNotConfigured
from node.venue.keys import MARKET_ID_MAX, POOL_ADDRESS, get_order_market
from node.venue.margin import (
    AccountSnapshot,
    compute_equity,
    compute_health_x,
    compute_maintenance_x,
    get_account_snapshot,
)
from node.venue.markets import BPS, MAX_PRICE, MarketParams, get_market, get_venue_config
from node.venue.orders import MAX_ORDER_LOTS
from node.venue.positions import compute_unrealized
from node.venue.records import get_market_state, get_order
from node.venue.side import Side

MAX_DEPTH = 500
DEFAULT_DEPTH = 20
MAX_ORDERS = 10_000
NATIVE_DECIMALS = UNITS["eth"]  # the collateral (the native balance unit)


class StateSource(Protocol):
    """What node.l2rpc's reader offers: block tags to numbers, numbers to state."""

    def resolve(self, tag: int | str) -> int: ...

    def state(self, number: int) -> StateReader: ...


def register_venue_read_methods(server: Any, source: StateSource) -> None:
    methods = VenueMethods(source)
    for name in ("getMarkets", "getBook", "getPositions", "getOrders", "getInsurance"):
        server.register("rollup_" + name, getattr(methods, name))


def resolve_market(reader: StateReader, value: Any, name: str = "market") -> MarketParams:
    """A market id or symbol to its params; InvalidParams naming what is wrong."""
    config = get_venue_config(reader)
    if config is None:
        raise VenueNotConfigured()
    if isinstance(value, str) and not value.strip().isdigit() and not value.startswith(("0x", "0X")):
        symbol = value.strip().upper()
        for market_id in config.market_ids:
            params = get_market(reader, market_id)
            if params.symbol == symbol:
                return params
        known = ", ".join(get_market(reader, m).symbol for m in config.market_ids)
        raise InvalidParams(f"{name}: unknown market symbol {value!r} (markets: {known})")
    market_id = uint(value, name, maximum=MARKET_ID_MAX)
    if market_id not in config.market_ids:
        raise InvalidParams(f"{name}: unknown market id {market_id} (ids: {', '.join(map(str, config.market_ids))})")
    return get_market(reader, market_id)


def get_market_units(params: MarketParams) -> MarketUnits | None:
    """The market's human-unit conversions, or None when it declares no decimals."""
    return params.get_units(MAX_PRICE, MAX_ORDER_LOTS)


def with_prices(row: dict[str, Any], units: MarketUnits | None, *names: str) -> dict[str, Any]:
    """`row` with a `<name>Decimal` price for each name (left as is when the market has no decimals)."""
    if units is not None:
        for name in names:
            value = row[name]
            row[name + "Decimal"] = None if value is None else format_price(int(value), units)
    return row


def with_sizes(row: dict[str, Any], units: MarketUnits | None, *names: str) -> dict[str, Any]:
    if units is not None:
        for name in names:
            row[name + "Decimal"] = format_size(int(row[name]), units)
    return row


def with_amounts(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """`row` with a `<name>Decimal` in the native unit for each amount name (decimal string of wei)."""
    for name in names:
        row[name + "Decimal"] = format_units(int(row[name]), NATIVE_DECIMALS)
    return row


def market_json(params: MarketParams, reader: StateReader) -> dict[str, Any]:
    state = get_market_state(reader, params.market_id)
    units = get_market_units(params)
    row = {
        "id": params.market_id,
        "symbol": params.symbol,
        "tickSize": params.tick_size,
        "lotSize": params.lot_size,
        "initialMarginBps": params.initial_margin_bps,
        "maintenanceMarginBps": params.maintenance_margin_bps,
        "maxLeverage": params.max_leverage,
        "fundingIntervalMs": params.funding_interval_ms,
        "fundingCapBps": params.funding_cap_bps,
        "liquidationFeeBps": params.liquidation_fee_bps,
        "makerFeeBps": params.maker_fee_bps,
        "takerFeeBps": params.taker_fee_bps,
        "oracleBandBps": params.oracle_band_bps,
        "oraclePrice": state.oracle_price or None,
        "oracleTimestamp": state.oracle_ms or None,
        "fundingIndex": str(state.funding_index),
        "bestBid": get_best_price(reader, params, Side.BUY),
        "bestAsk": get_best_price(reader, params, Side.SELL),
        "baseDecimals": params.base_decimals,
        "quoteDecimals": params.quote_decimals,
    }
    if units is not None:
        row["lotSizeDecimal"] = format_size(1, units)  # one lot in base units
    return with_prices(row, units, "tickSize", "oraclePrice", "fundingIndex", "bestBid", "bestAsk")


def book_side(reader: StateReader, params: MarketParams, side: Side, depth: int) -> list[dict[str, Any]]:
    units = get_market_units(params)
    return [
        with_sizes(
            with_prices({"price": level.price, "size": level.lots, "orders": level.orders}, units, "price"),
            units,
            "size",
        )
        for level in get_book_levels(reader, params, side, depth)
    ]


def compute_margin_ratio(s: AccountSnapshot) -> float | None:
    if not s.open_positions():
        return None
    equity = compute_equity(s)
    if equity <= 0:
        return None
    return compute_maintenance_x(s) / (BPS * equity)


def compute_liquidation_price(s: AccountSnapshot, market_id: int) -> int | None:
    """The mark of `market_id` at which BPS x equity - MMx turns negative (others fixed); None if no positive one.

    Health is linear in the mark m: h(m) = h0 + (BPS x size - |size| x mm_bps) x (m - m0).
    """
    position = s.get_position(market_id)
    if position is None or position.size == 0:
        return None
    view = s.markets[market_id]
    slope = BPS * position.size - abs(position.size) * view.params.maintenance_margin_bps
    if slope == 0:
        return None
    h0, m0 = compute_health_x(s), view.mark
    # the boundary b = m0 - h0 / slope; liquidatable below b (long, slope > 0) or above it (short, slope < 0)
    numerator, denominator = m0 * slope - h0, slope
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    # the last integer mark before it: ceil(b) for a long (b liquidates below), floor(b) for a short
    price = -(-numerator // denominator) if slope > 0 else numerator // denominator
    return price if price > 0 else None


def position_rows(reader: StateReader, s: AccountSnapshot) -> list[dict[str, Any]]:
    ratio = compute_margin_ratio(s)
    rows = []
    for market_id, position in s.positions:
        if position.size == 0:
            continue
        view = s.markets[market_id]
        units = get_market_units(view.params)
        row = {
            "market": market_id,
            "symbol": view.params.symbol,
            "size": position.size,
            "entryPrice": abs(position.cost) // abs(position.size),
            "markPrice": view.mark,
            "unrealizedPnl": str(compute_unrealized(position, view.mark, view.state.funding_index)),
            "marginRatio": ratio,
            "liquidationPrice": compute_liquidation_price(s, market_id),
        }
        with_amounts(with_sizes(row, units, "size"), "unrealizedPnl")
        rows.append(with_prices(row, units, "entryPrice", "markPrice", "liquidationPrice"))
    return rows


class BlockState(NamedTuple):
    number: int
    reader: StateReader


class VenueMethods:
    def __init__(self, source: StateSource) -> None:
        self.source = source

    def _state(self, args: list[Any], index: int) -> BlockState:
        """The state after the block named by args[index] (latest when absent)."""
        tag = block_tag(args[index], "block") if len(args) > index else "latest"
        number = self.source.resolve(tag)
        return BlockState(number, self.source.state(number))

    def getMarkets(self, params: list[Any]) -> list[dict[str, Any]]:
        args = positional(params, 0, 1, "rollup_getMarkets")
        _, reader = self._state(args, 0)
        config = get_venue_config(reader)
        if config is None:
            return []
        return [market_json(get_market(reader, m), reader) for m in config.market_ids]

    def getBook(self, params: list[Any]) -> dict[str, Any]:
        args = positional(params, 1, 2, "rollup_getBook")
        depth = DEFAULT_DEPTH
        if len(args) > 1 and args[1] is not None:
            depth = uint(args[1], "depth", maximum=MAX_DEPTH)
            if depth == 0:
                raise InvalidParams(f"depth must be in [1, {MAX_DEPTH}], got 0")
        number, reader = self._state(args, 2)
        market = resolve_market(reader, args[0])
        book = {
            "market": market.market_id,
            "symbol": market.symbol,
            "blockNumber": number,
            "oraclePrice": get_market_state(reader, market.market_id).oracle_price or None,
            "bids": book_side(reader, market, Side.BUY, depth),
            "asks": book_side(reader, market, Side.SELL, depth),
        }
        return with_prices(book, get_market_units(market), "oraclePrice")

    def getPositions(self, params: list[Any]) -> list[dict[str, Any]]:
        args = positional(params, 1, 1, "rollup_getPositions")
        owner = address(args[0], "address")
        _, reader = self._state(args, 1)
        if get_venue_config(reader) is None:
            return []
        return position_rows(reader, get_account_snapshot(reader, owner))

    def getOrders(self, params: list[Any]) -> list[dict[str, Any]]:
        args = positional(params, 1, 1, "rollup_getOrders")
        owner = address(args[0], "address")
        _, reader = self._state(args, 1)
        if get_venue_config(reader) is None:
            return []
        snapshot = get_account_snapshot(reader, owner)
        markets: dict[int, MarketParams] = {}
        rows = []
        for order_id in snapshot.account.orders[:MAX_ORDERS]:
            order = get_order(reader, order_id)
            if order is None:
                continue
            market_id = get_order_market(order_id)
            if market_id not in markets:
                markets[market_id] = get_market(reader, market_id)
            units = get_market_units(markets[market_id])
            row = {
                "id": order_id,
                "market": market_id,
                "symbol": markets[market_id].symbol,
                "side": order.side.label,
                "price": order.price,
                "size": order.lots,
                "clientOrderId": order.client_id,
            }
            rows.append(with_sizes(with_prices(row, units, "price"), units, "size"))
        return rows

    def getInsurance(self, params: list[Any]) -> dict[str, Any]:
        args = positional(params, 0, 1, "rollup_getInsurance")
        number, reader = self._state(args, 0)
        config = get_venue_config(reader)
        if config is None:
            raise VenueNotConfigured()
        snapshot = get_account_snapshot(reader, config.insurance_fund)
        fund = {
            "address": to_checksum_address(config.insurance_fund),
            "blockNumber": number,
            "balance": str(snapshot.balance),
            "pnl": str(snapshot.account.pnl),
            "equity": str(compute_equity(snapshot)),
            "available": str(compute_fund_available(reader, config.insurance_fund)),
            "oracle": to_checksum_address(config.oracle),
            "pnlPool": with_amounts(
                {
                    "address": to_checksum_address(POOL_ADDRESS),
                    "balance": str(get_account(reader, POOL_ADDRESS).balance),
                },
                "balance",
            ),
            "positions": position_rows(reader, snapshot),
        }
        return with_amounts(fund, "balance", "pnl", "equity", "available")
