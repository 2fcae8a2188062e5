"""Venue commands against a devnet: markets, order, cancel, cancel-all, book, positions, oracle, insurance.

Endpoints, keys, signing, fees and `--wait` are node.cli.common's, as for
the wallet commands: orders go to the sequencer; `--wait` (default level
unsafe) polls until included and fails the command when the receipt's
status is 0. Markets are named by symbol (BTC-PERP, any case) or id. The
oracle commands sign with the oracle key (default dev4, the devnet's).

Human units (node.units, from the market's declared base/quote decimals,
see `rollup markets`):
- `--price 20.5` is quote per 1 whole base (eth per BTC on the devnet) and
  `--size 0.001` whole base units, always, even for a bare integer
  (`--size 3` is 3 BTC); a value between two ticks or two lots, with more
  decimals than the base asset, negative, zero, malformed or too large is
  refused naming the nearest valid values, before anything is sent;
- `--price-units N` (wei per lot) and `--lots N` give the exact integers
  instead, as the chain stores them (the only form for a market that
  declares no decimals); `oracle set` takes --price or --price-units, and
  `oracle path --units` reads integer lines instead of human prices;
- amounts (--fee) keep node.cli.common's rule: a bare integer is wei,
  or give a unit (`2gwei`).
Reads print human prices, sizes and eth amounts; `--json` prints the node's
answer, which carries both forms (`price` and `priceDecimal`, ...).

Every read and every payload goes through the Python client (node.client:
RollupClient's venue reads, node.client.venue's order and oracle payloads and
oracle timestamps); this module adds the human-unit flags and the text forms.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Protocol

from node.cli.common import (
    CliError,
    add_command,
    client_for,
    emit,
    finish_tx,
    get_endpoints,
    key_parser,
    kv_lines,
    l2_fee,
    load_key,
    net_parser,
    progress,
    sign_l2,
    submit_l2,
    wait_parser,
)
from node.client import RollupClient
from node.client import venue as client_venue
from node.client.errors import ResponseError
from node.client.sansio import run_sync
from node.crypto import to_checksum_address
from node.devnet.errors import InputError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag
from node.devnet.params import VENUE_ORACLE_KEY
from node.devnet.waiting import Deadline
from node.units import AmountError, MarketUnits, format_price, format_size, parse_price, parse_size
from node.venue.markets import MAX_PRICE
from node.venue.orders import MAX_ORDER_LOTS
from node.venue.payloads import OracleUpdate

ORDER_TYPES = tuple(client_venue.ORDER_TYPES)
ORACLE_FEED_AHEAD_MS = client_venue.ORACLE_FEED_AHEAD_MS  # oracle timestamps at most this far past the L2 head


def register(subparsers: Any) -> None:
    net, key, wait = net_parser(), key_parser(), wait_parser()
    key.add_argument("--fee", help="fee in wei or with a unit, e.g. 2gwei (default: the devnet's min fee)")
    oracle_key = key_parser()
    oracle_key.add_argument("--fee", help="fee in wei or with a unit, e.g. 2gwei (default: the devnet's min fee)")
    oracle_key.set_defaults(key=VENUE_ORACLE_KEY)
    add_command(
        subparsers, "markets", [net], "the venue's markets, oracle prices and best bid/ask", cmd_markets, lambda p: None
    )
    add_command(subparsers, "order", [net, key, wait], "place an order", cmd_order, _order_args)
    add_command(
        subparsers,
        "cancel",
        [net, key, wait],
        "cancel a resting order",
        cmd_cancel,
        lambda p: p.add_argument("order_id", metavar="ID", help="order id (see `rollup positions` / rollup_getOrders)"),
    )
    add_command(
        subparsers,
        "cancel-all",
        [net, key, wait],
        "cancel all of the key's orders in a market",
        cmd_cancel_all,
        lambda p: p.add_argument("--market", required=True, metavar="M", help="market symbol or id"),
    )
    add_command(subparsers, "book", [net], "a market's order book", cmd_book, _book_args)
    add_command(
        subparsers, "positions", [net], "an account's positions and resting orders", cmd_positions, _positions_args
    )
    add_command(subparsers, "insurance", [net], "the insurance fund", cmd_insurance, lambda p: None)
    oracle = subparsers.add_parser("oracle", help="oracle price updates (signed by the oracle key, default dev4)")
    sub = oracle.add_subparsers(dest="oracle_command", metavar="COMMAND")
    sub.required = True
    add_command(sub, "set", [net, oracle_key, wait], "set a market's oracle price", cmd_oracle_set, _oracle_set_args)
    add_command(
        sub,
        "path",
        [net, oracle_key],
        "play a scripted price path (one price per line)",
        cmd_oracle_path,
        _oracle_path_args,
    )


def _order_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", required=True, metavar="M", help="market symbol or id")
    parser.add_argument("--side", required=True, choices=("buy", "sell"))
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--size", help="in whole base units, e.g. 0.001 (BTC); a whole number of lots")
    size.add_argument("--lots", help="the size as an integer number of lots")
    price = parser.add_mutually_exclusive_group()
    price.add_argument(
        "--price", help="quote per 1 base, e.g. 20.5; a multiple of the tick (default: IOC at the oracle +/- 10%%)"
    )
    price.add_argument("--price-units", metavar="N", help="the price as an integer: wei per lot")
    parser.add_argument(
        "--type", choices=ORDER_TYPES, default=None, help="limit (default with --price), ioc, post-only"
    )
    parser.add_argument("--reduce-only", action="store_true")
    parser.add_argument("--client-id", default="0", help="client order id (default 0)")


def _book_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("market", metavar="M", help="market symbol or id")
    parser.add_argument("--depth", type=int, default=10, help="levels per side (default 10)")
    parser.add_argument("--block", default="latest", metavar="B")


def _positions_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", metavar="ADDR", nargs="?", default="dev0", help="0x address or devN (default dev0)")
    parser.add_argument("--block", default="latest", metavar="B")


def _oracle_set_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", required=True, metavar="M")
    price = parser.add_mutually_exclusive_group(required=True)
    price.add_argument("--price", help="quote per 1 base, e.g. 20.5 (a multiple of the tick)")
    price.add_argument("--price-units", metavar="N", help="the price as an integer: wei per lot")


def _oracle_path_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", required=True, metavar="M")
    parser.add_argument(
        "--file", required=True, type=Path, help="one human price per line, e.g. 20.5 (# comments allowed)"
    )
    parser.add_argument("--units", action="store_true", help="the file's prices are integers: wei per lot")
    parser.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="seconds between updates (default 0.5)"
    )


# ---------------------------------------------------------------- helpers


def _client(args: argparse.Namespace) -> RollupClient:
    return client_for(get_endpoints(args))


def _uint(text: str, what: str, maximum: int = 2**64 - 1) -> int:
    value = parse_amount(text, what, allow_zero=True)
    if value > maximum:
        raise InputError(f"{what} {text} is larger than {maximum}")
    return value


def _units(market: dict[str, Any]) -> MarketUnits | None:
    """The market's human-unit conversions (node.client.venue.market_units; None without declared decimals)."""
    try:
        return client_venue.market_units(market)
    except ResponseError as exc:
        raise CliError(str(exc)) from None


def _need_units(market: dict[str, Any], flag: str, raw_flag: str) -> MarketUnits:
    units = _units(market)
    if units is None:
        raise InputError(f"{market['symbol']} declares no base/quote decimals: give {raw_flag} instead of {flag}")
    return units


def _human_price(market: dict[str, Any], text: str, flag: str = "--price") -> int:
    try:
        return parse_price(text, _need_units(market, flag, "--price-units"), flag)
    except AmountError as exc:
        raise InputError(str(exc)) from None


def _human_size(market: dict[str, Any], text: str) -> int:
    try:
        return parse_size(text, _need_units(market, "--size", "--lots"), "--size")
    except AmountError as exc:
        raise InputError(str(exc)) from None


def _raw_price(text: str, flag: str = "--price-units") -> int:
    price = _uint(text, flag, MAX_PRICE)
    if price == 0:
        raise InputError(f"{flag} must be at least 1")
    return price


def _price_text(market: dict[str, Any], units: int) -> str:
    """A price for people: human when the market declares decimals, else `N units`."""
    converter = _units(market)
    return format_price(units, converter) if converter else f"{units} units"


def _size_text(market: dict[str, Any], lots: int) -> str:
    converter = _units(market)
    return f"{format_size(lots, converter)} {_base(market)}" if converter else f"{lots} lots"


def _base(market: dict[str, Any]) -> str:
    return str(market["symbol"]).split("-", 1)[0]


def _market(client: RollupClient, text: str) -> dict[str, Any]:
    """The rollup_getMarkets row of the market named by symbol (any case) or id."""
    return client.market(text)


def _send(args: argparse.Namespace, payload: Any, data: dict[str, Any], verb: str) -> int:
    endpoints = get_endpoints(args)
    key = load_key(args)
    deadline = Deadline(args.timeout)
    tx = sign_l2(args, endpoints, key, payload, l2_fee(args, endpoints), None)
    tx_hash = submit_l2(endpoints, tx)
    data = {"hash": tx_hash, "from": to_checksum_address(key.address), "nonce": tx.nonce, "fee": str(tx.fee), **data}
    return finish_tx(args, endpoints, data, deadline, verb)


# ---------------------------------------------------------------- transactions


def cmd_order(args: argparse.Namespace) -> int:
    client = _client(args)
    market = _market(client, args.market)
    if args.size is not None:
        size = _human_size(market, args.size)
    else:
        size = _uint(args.lots, "--lots", MAX_ORDER_LOTS)
        if size == 0:
            raise InputError("--lots must be at least 1")
    price: int | None = None
    if args.price is not None or args.price_units is not None:
        price = _human_price(market, args.price) if args.price is not None else _raw_price(args.price_units)
    payload, kind = client_venue.order_payload(
        market, args.side, size, price, args.type, bool(args.reduce_only), _uint(args.client_id, "--client-id")
    )
    price = payload.price
    data = {
        "market": market["symbol"],
        "side": args.side,
        "size": size,
        "price": price,
        "type": kind,
        "reduceOnly": bool(args.reduce_only),
    }
    converter = _units(market)
    if converter is not None:
        data["sizeDecimal"], data["priceDecimal"] = format_size(size, converter), format_price(price, converter)
    verb = (
        f"order sent ({args.side} {_size_text(market, size)} {market['symbol']} @ {_price_text(market, price)}, {kind})"
    )
    return _send(args, payload, data, verb)


def cmd_cancel(args: argparse.Namespace) -> int:
    order_id = _uint(args.order_id, "order id")
    payload = client_venue.cancel_payload(order_id)
    return _send(args, payload, {"orderId": order_id}, f"cancel of order {order_id} sent")


def cmd_cancel_all(args: argparse.Namespace) -> int:
    market = _market(_client(args), args.market)
    payload = client_venue.cancel_all_payload(market)
    return _send(args, payload, {"market": market["symbol"]}, f"cancel-all in {market['symbol']} sent")


def cmd_oracle_set(args: argparse.Namespace) -> int:
    client = _client(args)
    market = _market(client, args.market)
    price = _human_price(market, args.price) if args.price is not None else _raw_price(args.price_units)
    payload = client.run(client_venue.oracle_payload(client.endpoints.l2.rpc, market, price))
    data: dict[str, Any] = {"market": market["symbol"], "price": price, "timestampMs": payload.timestamp_ms}
    converter = _units(market)
    if converter is not None:
        data["priceDecimal"] = format_price(price, converter)
    return _send(args, payload, data, f"oracle update sent ({market['symbol']} = {_price_text(market, price)})")


class L2Caller(Protocol):
    """What _oracle_ms needs: a raw JSON-RPC call to the L2 node (RollupClient.call)."""

    def call(self, method: str, *params: Any) -> Any: ...


def _oracle_ms(client: L2Caller, last_ms: int) -> int:
    """node.client.venue.oracle_timestamp over `client.call`: the wall clock, at most ORACLE_FEED_AHEAD_MS
    past the L2 head (a lagging chain refuses updates too far ahead), always after `last_ms`."""
    return run_sync(
        client_venue.oracle_timestamp("l2", last_ms), lambda request: client.call(request.method, *request.params)
    )


def cmd_oracle_path(args: argparse.Namespace) -> int:
    try:
        lines = args.file.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"--file {args.file}: {exc.strerror or exc}") from None
    if args.interval < 0:
        raise InputError("--interval must be >= 0")
    endpoints = get_endpoints(args)
    client = client_for(endpoints)
    market = _market(client, args.market)
    prices = _path_prices(args, lines, market)
    converter = _units(market)
    key = load_key(args)
    fee = l2_fee(args, endpoints)
    sent: list[dict[str, Any]] = []
    last_ms = int(market.get("oracleTimestamp") or 0)
    for index, price in enumerate(prices):
        last_ms = _oracle_ms(client, last_ms)
        tx = sign_l2(
            args,
            endpoints,
            key,
            OracleUpdate(market["id"], price, last_ms),
            fee,
            None if index == 0 else sent[-1]["nonce"] + 1,
        )
        sent.append({"price": price, "hash": submit_l2(endpoints, tx), "nonce": tx.nonce, "timestampMs": last_ms})
        if converter is not None:
            sent[-1]["priceDecimal"] = format_price(price, converter)
        progress(f"{market['symbol']} = {_price_text(market, price)} ({sent[-1]['hash']})")
        if index + 1 < len(prices):
            time.sleep(args.interval)
    emit(args, {"market": market["symbol"], "updates": sent}, f"sent {len(sent)} oracle updates to {market['symbol']}")
    return 0


def _path_prices(args: argparse.Namespace, lines: list[str], market: dict[str, Any]) -> list[int]:
    """The file's prices in units per lot: human prices, or integers with --units; all checked before sending."""
    prices = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        if args.units:
            if not text.isdigit() or not 0 < int(text) <= MAX_PRICE:
                raise InputError(f"{args.file}:{number}: {text!r} is not an integer price in [1, {MAX_PRICE}]")
            prices.append(int(text))
        else:
            try:
                prices.append(parse_price(text, _need_units(market, "human prices", "--units"), "price"))
            except AmountError as exc:
                raise InputError(f"{args.file}:{number}: {exc}") from None
    if not prices:
        raise InputError(f"{args.file} holds no prices")
    return prices


# ---------------------------------------------------------------- reads


def cmd_markets(args: argparse.Namespace) -> int:
    markets = _client(args).markets()
    lines = [
        f"{'ID':>3} {'SYMBOL':<10} {'ORACLE':>16} {'BID':>16} {'ASK':>16} "
        f"{'TICK':>12} {'LOT':>12} {'DEC':>5} {'LEV':>4}"
    ]
    for m in markets:
        decimals = "-" if m.get("baseDecimals") is None else f"{m['baseDecimals']}/{m['quoteDecimals']}"
        lines.append(
            f"{m['id']:>3} {m['symbol']:<10} {_shown(m, 'oraclePrice'):>16} {_shown(m, 'bestBid'):>16} "
            f"{_shown(m, 'bestAsk'):>16} {_shown(m, 'tickSize'):>12} {_shown(m, 'lotSize'):>12} {decimals:>5} "
            f"{m['maxLeverage']:>4}"
        )
    if any(m.get("baseDecimals") is not None for m in markets):
        lines.append("prices in quote per 1 base, sizes in base units (DEC: base/quote decimals; --json for integers)")
    emit(args, markets, "\n".join(lines) if markets else "no markets")
    return 0


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


def _shown(row: dict[str, Any], name: str) -> str:
    """`row[name]` for people: its `<name>Decimal` twin when the node sent one, else the integer ("-" if null)."""
    value = row.get(name + "Decimal", row.get(name))
    return _num(value)


def _eth(row: dict[str, Any], name: str) -> str:
    """An amount field for people: `1.5 eth` from its decimal twin (the integer in wei when there is none)."""
    if name + "Decimal" in row:
        return f"{row[name + 'Decimal']} eth"
    return f"{row[name]} wei"


def cmd_book(args: argparse.Namespace) -> int:
    if not 1 <= args.depth <= 500:
        raise InputError("--depth must be in [1, 500]")
    client = _client(args)
    book = client.book(args.market, args.depth, parse_block_tag(args.block))
    human = "priceDecimal" in (book["bids"] or book["asks"] or [{}])[0] or "oraclePriceDecimal" in book
    unit = f" ({_base(book)})" if human else " (lots)"
    lines = [
        f"{book['symbol']} at block {book['blockNumber']} (oracle {_shown(book, 'oraclePrice')})",
        f"{'PRICE':>16} {'SIZE' + unit:>16} {'ORDERS':>6}",
    ]
    lines += [f"{_shown(a, 'price'):>16} {_shown(a, 'size'):>16} {a['orders']:>6}  ask" for a in reversed(book["asks"])]
    lines.append("-" * 42)
    lines += [f"{_shown(b, 'price'):>16} {_shown(b, 'size'):>16} {b['orders']:>6}  bid" for b in book["bids"]]
    emit(args, book, "\n".join(lines))
    return 0


def cmd_positions(args: argparse.Namespace) -> int:
    address = to_checksum_address(parse_address_arg(args.address, "address"))
    tag = parse_block_tag(args.block)
    client = _client(args)
    positions = client.positions(address, tag)
    orders = client.orders(address, tag)
    lines = [f"{address}: {len(positions)} position(s), {len(orders)} resting order(s)"]
    for p in positions:
        ratio = "-" if p["marginRatio"] is None else f"{p['marginRatio']:.4f}"
        lines.append(
            f"  {p['symbol']:<10} size {_shown(p, 'size'):>10} entry {_shown(p, 'entryPrice')} "
            f"mark {_shown(p, 'markPrice')} uPnL {_eth(p, 'unrealizedPnl')} ratio {ratio} "
            f"liq {_shown(p, 'liquidationPrice')}"
        )
    for o in orders:
        lines.append(f"  order {o['id']} {o['symbol']} {o['side']} {_shown(o, 'size')} @ {_shown(o, 'price')}")
    emit(args, {"address": address, "positions": positions, "orders": orders}, "\n".join(lines))
    return 0


def cmd_insurance(args: argparse.Namespace) -> int:
    fund = _client(args).insurance()
    emit(
        args,
        fund,
        kv_lines(
            [
                ("address", fund["address"]),
                ("balance", _eth(fund, "balance")),
                ("pnl", _eth(fund, "pnl")),
                ("equity", _eth(fund, "equity")),
                ("available", _eth(fund, "available")),
                ("positions", len(fund["positions"])),
                ("oracle", fund["oracle"]),
            ]
        ),
    )
    return 0
