"""Venue commands against a devnet: markets, order, cancel, cancel-all, book, positions, oracle, insurance.

Endpoints, keys, signing, fees and `--wait` are node.cli.common's, as for
the wallet commands: orders go to the sequencer; `--wait` (default level
unsafe) polls until included and fails the command when the receipt's
status is 0. Markets are named by
symbol (BTC-PERP, any case) or id; sizes are whole lots, prices units per lot
(see `rollup markets`). The oracle commands sign with the oracle key (default
dev4, the devnet's).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from node.cli.common import (
    CliError,
    add_command,
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
from node.crypto import to_checksum_address
from node.devnet.errors import InputError
from node.devnet.inputs import parse_address_arg, parse_amount, parse_block_tag
from node.devnet.params import VENUE_ORACLE_KEY
from node.devnet.waiting import Deadline
from node.rpc.client import SyncRpcClient
from node.venue.oracle import ORACLE_MAX_AHEAD_MS
from node.venue.payloads import CancelAll, CancelOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.side import Side

ORDER_TYPES = {"limit": OrderType.GTC, "ioc": OrderType.IOC, "post-only": OrderType.POST_ONLY}
MARKET_SLIPPAGE_BPS = 1000  # an order without --price: IOC at the oracle price +/- 10 %
ORACLE_FEED_AHEAD_MS = ORACLE_MAX_AHEAD_MS // 2  # oracle timestamps at most this far past the L2 head


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
    parser.add_argument("--size", required=True, help="lots")
    parser.add_argument("--price", help="units per lot (default: IOC at the oracle price +/- 10%%)")
    parser.add_argument(
        "--type", choices=tuple(ORDER_TYPES), default=None, help="limit (default with --price), ioc, post-only"
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
    parser.add_argument("--price", required=True, help="units per lot")


def _oracle_path_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--market", required=True, metavar="M")
    parser.add_argument("--file", required=True, type=Path, help="one price per line (# comments allowed)")
    parser.add_argument(
        "--interval", type=float, default=0.5, metavar="S", help="seconds between updates (default 0.5)"
    )


# ---------------------------------------------------------------- helpers


def _client(args: argparse.Namespace) -> SyncRpcClient:
    return SyncRpcClient(get_endpoints(args).require_l2().rpc)


def _uint(text: str, what: str, maximum: int = 2**64 - 1) -> int:
    value = parse_amount(text, what, allow_zero=True)
    if value > maximum:
        raise InputError(f"{what} {text} is larger than {maximum}")
    return value


def _market(client: SyncRpcClient, text: str) -> dict[str, Any]:
    markets = client.call("rollup_getMarkets")
    if not markets:
        raise CliError("this chain has no venue markets")
    for market in markets:
        if text.upper() == market["symbol"] or (text.isdigit() and int(text) == market["id"]):
            return market
    raise InputError(f"unknown market {text!r} (markets: {', '.join(m['symbol'] for m in markets)})")


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
    size = _uint(args.size, "--size")
    if size == 0:
        raise InputError("--size must be at least 1 lot")
    if args.price is not None:
        price = _uint(args.price, "--price")
        kind = args.type or "limit"
    else:
        if args.type not in (None, "ioc"):
            raise InputError(
                "an order without --price is IOC at the oracle price +/- 10%: give --price for limit/post-only"
            )
        if not market.get("oraclePrice"):
            raise CliError(f"{market['symbol']} has no oracle price yet: give --price")
        tick, oracle = market["tickSize"], market["oraclePrice"]
        bound = oracle * (10_000 + (MARKET_SLIPPAGE_BPS if args.side == "buy" else -MARKET_SLIPPAGE_BPS)) // 10_000
        price = max(tick, bound // tick * tick)
        kind = "ioc"
    payload = PlaceOrder(
        market["id"],
        Side.from_label(args.side),
        size,
        price,
        ORDER_TYPES[kind],
        bool(args.reduce_only),
        _uint(args.client_id, "--client-id"),
    )
    data = {
        "market": market["symbol"],
        "side": args.side,
        "size": size,
        "price": price,
        "type": kind,
        "reduceOnly": bool(args.reduce_only),
    }
    return _send(args, payload, data, f"order sent ({args.side} {size} {market['symbol']} @ {price}, {kind})")


def cmd_cancel(args: argparse.Namespace) -> int:
    order_id = _uint(args.order_id, "order id")
    return _send(args, CancelOrder(order_id), {"orderId": order_id}, f"cancel of order {order_id} sent")


def cmd_cancel_all(args: argparse.Namespace) -> int:
    market = _market(_client(args), args.market)
    return _send(args, CancelAll(market["id"]), {"market": market["symbol"]}, f"cancel-all in {market['symbol']} sent")


def cmd_oracle_set(args: argparse.Namespace) -> int:
    client = _client(args)
    market = _market(client, args.market)
    price = _uint(args.price, "--price")
    if price == 0:
        raise InputError("--price must be at least 1")
    payload = OracleUpdate(market["id"], price, _oracle_ms(client, int(market.get("oracleTimestamp") or 0)))
    return _send(
        args,
        payload,
        {"market": market["symbol"], "price": price, "timestampMs": payload.timestamp_ms},
        f"oracle update sent ({market['symbol']} = {price})",
    )


def _oracle_ms(client: SyncRpcClient, last_ms: int) -> int:
    """The wall clock, but never more than ORACLE_FEED_AHEAD_MS past the L2 head (a chain whose clock lags,
    its L1 origin behind under load, would refuse updates over ORACLE_MAX_AHEAD_MS ahead of a block); after
    the market's last update."""
    head = client.call("rollup_getBlockByNumber", "latest", False)
    now = int(time.time() * 1000)
    if isinstance(head, dict) and isinstance(head.get("timestamp"), int):
        now = min(now, head["timestamp"] + ORACLE_FEED_AHEAD_MS)
    return max(now, last_ms + 1)


def cmd_oracle_path(args: argparse.Namespace) -> int:
    try:
        lines = args.file.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"--file {args.file}: {exc.strerror or exc}") from None
    prices = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if text:
            if not text.isdigit() or int(text) == 0:
                raise InputError(f"{args.file}:{number}: {text!r} is not a positive integer price")
            prices.append(int(text))
    if not prices:
        raise InputError(f"{args.file} holds no prices")
    if args.interval < 0:
        raise InputError("--interval must be >= 0")
    endpoints = get_endpoints(args)
    client = SyncRpcClient(endpoints.require_l2().rpc)
    market = _market(client, args.market)
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
        progress(f"{market['symbol']} = {price} ({sent[-1]['hash']})")
        if index + 1 < len(prices):
            time.sleep(args.interval)
    emit(args, {"market": market["symbol"], "updates": sent}, f"sent {len(sent)} oracle updates to {market['symbol']}")
    return 0


# ---------------------------------------------------------------- reads


def cmd_markets(args: argparse.Namespace) -> int:
    markets = _client(args).call("rollup_getMarkets")
    lines = [f"{'ID':>3} {'SYMBOL':<10} {'ORACLE':>16} {'BID':>16} {'ASK':>16} {'TICK':>10} {'LEV':>4}"]
    for m in markets:
        lines.append(
            f"{m['id']:>3} {m['symbol']:<10} {_num(m['oraclePrice']):>16} {_num(m['bestBid']):>16} "
            f"{_num(m['bestAsk']):>16} {m['tickSize']:>10} {m['maxLeverage']:>4}"
        )
    emit(args, markets, "\n".join(lines) if markets else "no markets")
    return 0


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


def cmd_book(args: argparse.Namespace) -> int:
    if not 1 <= args.depth <= 500:
        raise InputError("--depth must be in [1, 500]")
    client = _client(args)
    book = client.call(
        "rollup_getBook",
        args.market if not args.market.isdigit() else int(args.market),
        args.depth,
        parse_block_tag(args.block),
    )
    lines = [
        f"{book['symbol']} at block {book['blockNumber']} (oracle {_num(book['oraclePrice'])})",
        f"{'PRICE':>16} {'SIZE':>10} {'ORDERS':>6}",
    ]
    lines += [f"{a['price']:>16} {a['size']:>10} {a['orders']:>6}  ask" for a in reversed(book["asks"])]
    lines.append("-" * 36)
    lines += [f"{b['price']:>16} {b['size']:>10} {b['orders']:>6}  bid" for b in book["bids"]]
    emit(args, book, "\n".join(lines))
    return 0


def cmd_positions(args: argparse.Namespace) -> int:
    address = to_checksum_address(parse_address_arg(args.address, "address"))
    tag = parse_block_tag(args.block)
    client = _client(args)
    positions = client.call("rollup_getPositions", address, tag)
    orders = client.call("rollup_getOrders", address, tag)
    lines = [f"{address}: {len(positions)} position(s), {len(orders)} resting order(s)"]
    for p in positions:
        ratio = "-" if p["marginRatio"] is None else f"{p['marginRatio']:.4f}"
        lines.append(
            f"  {p['symbol']:<10} size {p['size']:>8} entry {p['entryPrice']} mark {p['markPrice']} "
            f"uPnL {p['unrealizedPnl']} ratio {ratio} liq {_num(p['liquidationPrice'])}"
        )
    for o in orders:
        lines.append(f"  order {o['id']} {o['symbol']} {o['side']} {o['size']} @ {o['price']}")
    emit(args, {"address": address, "positions": positions, "orders": orders}, "\n".join(lines))
    return 0


def cmd_insurance(args: argparse.Namespace) -> int:
    fund = _client(args).call("rollup_getInsurance")
    emit(
        args,
        fund,
        kv_lines(
            [
                ("address", fund["address"]),
                ("balance", fund["balance"]),
                ("pnl", fund["pnl"]),
                ("equity", fund["equity"]),
                ("available", fund["available"]),
                ("positions", len(fund["positions"])),
                ("oracle", fund["oracle"]),
            ]
        ),
    )
    return 0
