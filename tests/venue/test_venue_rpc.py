"""The venue's read RPC (node.venue.rpc): shapes over a small in-memory venue, and -32602 on bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.rpc.errors import InvalidParams
from node.rpc.server import RpcServer
from node.state.view import DictState
from node.venue.errors import VenueNotConfigured
from node.venue.payloads import OrderType, PlaceOrder
from node.venue.rpc import VenueMethods, register_venue_read_methods
from node.venue.side import Side
from tests.venue.support import FUND, KEYS, A, B, C, new_venue


class Source:
    def __init__(self, state: Any) -> None:
        self.current = state

    def resolve(self, tag: int | str) -> int:
        return 7 if isinstance(tag, str) else tag

    def state(self, number: int) -> Any:
        return self.current


@pytest.fixture()
def venue() -> Any:
    v = new_venue({A: 10**12, B: 10**12, C: 10**12}, prices={0: 50_000, 1: 2_000})
    v.send(KEYS[0], PlaceOrder(0, Side.BUY, 5, 49_990))  # A bids
    v.send(KEYS[0], PlaceOrder(0, Side.BUY, 3, 49_980))
    v.send(KEYS[1], PlaceOrder(0, Side.SELL, 4, 50_010))  # B asks
    v.send(KEYS[2], PlaceOrder(0, Side.BUY, 1, 50_010, OrderType.IOC))  # C lifts 1 of B's ask
    return v


def call(server: RpcServer, method: str, *params: Any) -> dict[str, Any]:
    reply = asyncio.run(
        server.dispatch(json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}))
    )
    return json.loads(reply)


def test_markets_and_book_shapes(venue: Any) -> None:
    methods = VenueMethods(Source(venue.state))
    markets = methods.getMarkets([])
    assert [m["symbol"] for m in markets] == ["BTC-PERP", "ETH-PERP"]
    btc = markets[0]
    assert btc["oraclePrice"] == 50_000 and btc["bestBid"] == 49_990 and btc["bestAsk"] == 50_010
    assert btc["tickSize"] == 1 and btc["maintenanceMarginBps"] == 500
    book = methods.getBook(["btc-perp", 1])
    assert book["blockNumber"] == 7 and book["symbol"] == "BTC-PERP"
    assert book["bids"] == [{"price": 49_990, "size": 5, "orders": 1}]
    assert book["asks"] == [{"price": 50_010, "size": 3, "orders": 1}]
    assert methods.getBook([0])["bids"][1] == {"price": 49_980, "size": 3, "orders": 1}
    assert methods.getBook([1])["bids"] == []


def test_positions_orders_insurance(venue: Any) -> None:
    methods = VenueMethods(Source(venue.state))
    (long_,) = methods.getPositions([to_checksum_address(C)])
    assert long_["market"] == 0 and long_["size"] == 1 and long_["entryPrice"] == 50_010
    assert long_["markPrice"] == 50_000 and long_["unrealizedPnl"] == "-10"
    assert long_["liquidationPrice"] is None  # 10^12 units against one lot: no positive liquidation price
    (short,) = methods.getPositions([to_checksum_address(B), "latest"])
    assert short["size"] == -1 and 0 < short["marginRatio"] < 1
    assert short["liquidationPrice"] > 50_000
    orders = methods.getOrders([to_checksum_address(A)])
    assert [(o["side"], o["price"], o["size"]) for o in orders] == [("buy", 49_990, 5), ("buy", 49_980, 3)]
    assert methods.getOrders([to_checksum_address(FUND)]) == []
    fund = methods.getInsurance([])
    assert fund["address"] == to_checksum_address(FUND) and fund["positions"] == []


def test_liquidation_price_is_the_boundary() -> None:
    v = new_venue({A: 10**6, B: 10**6}, prices={0: 50_000})
    v.send(KEYS[1], PlaceOrder(0, Side.SELL, 100, 50_000))
    v.send(KEYS[0], PlaceOrder(0, Side.BUY, 100, 50_000, OrderType.IOC))  # A: long 100 at 50,000 (5x) with ~10^6
    methods = VenueMethods(Source(v.state))
    (pos,) = methods.getPositions([to_checksum_address(A)])
    liq = pos["liquidationPrice"]
    assert 40_000 < liq < 50_000
    # health at mark m: equity(m) x BPS - |size| x m x 500 with equity = B + 100 (m - 50,000)
    balance = v.balance(A) + v.pnl(A)
    health = lambda m: 10_000 * (balance + 100 * (m - 50_000)) - 100 * m * 500  # noqa: E731
    assert health(liq) >= 0 and health(liq - 1) < 0
    (short,) = methods.getPositions([to_checksum_address(B)])
    balance_b = v.balance(B) + v.pnl(B)
    health_b = lambda m: 10_000 * (balance_b - 100 * (m - 50_000)) - 100 * m * 500  # noqa: E731
    assert health_b(short["liquidationPrice"]) >= 0 and health_b(short["liquidationPrice"] + 1) < 0


def test_bad_input_is_invalid_params(venue: Any) -> None:
    server = RpcServer("test")
    register_venue_read_methods(server, Source(venue.state))
    cases = [
        (("rollup_getBook", "DOGE-PERP"), "unknown market symbol 'DOGE-PERP'"),
        (("rollup_getBook", 9), "unknown market id 9"),
        (("rollup_getBook", 0, 0), "depth must be in [1, 500]"),
        (("rollup_getBook", 0, 501), "depth exceeds"),
        (("rollup_getBook", 0, "x"), "depth"),
        (("rollup_getBook", [0]), "market must be an integer"),
        (("rollup_getPositions", "0x1234"), "address must be 20 bytes"),
        (("rollup_getPositions",), "1 to 2 params"),
        (("rollup_getOrders", to_checksum_address(A), "soon"), "block must be a block number"),
        (("rollup_getMarkets", 1, 2), "0 to 1 params"),
    ]
    for (method, *params), message in cases:
        reply = call(server, method, *params)
        assert reply["error"]["code"] == -32602, (method, params, reply)
        assert message in reply["error"]["message"], (method, params, reply)
    assert "result" in call(server, "rollup_getBook", "ETH-PERP", 3)


def test_chain_without_venue() -> None:
    methods = VenueMethods(Source(DictState({})))
    assert methods.getMarkets([]) == []
    assert methods.getPositions([to_checksum_address(A)]) == [] and methods.getOrders([to_checksum_address(A)]) == []
    with pytest.raises(VenueNotConfigured):
        methods.getBook([0])
    with pytest.raises(VenueNotConfigured):
        methods.getInsurance([])
    with pytest.raises(InvalidParams):
        methods.getPositions(["nope"])
