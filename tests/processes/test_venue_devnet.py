"""The venue on a real devnet: configs, seeding, the read RPC, the CLI end to end, and the liquidation crash.

Fast tests check the generated configs; the slow ones share one detached
devnet (2 executors) and finish with the crash scenario of
scripts/bench_venue.py (many leveraged accounts, a 10 % oracle crash while
ordinary orders saturate the sequencer).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import time
import tomllib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from node.crypto import to_checksum_address
from node.devnet import params as p
from node.devnet.configs import config_documents, venue_section
from node.devnet.layout import DevnetLayout
from node.devnet.params import DevnetSettings
from node.devnet.toml import dumps
from node.keys.hd import dev_account
from node.rollup_config import load_rollup_config
from node.rpc.client import SyncRpcClient
from node.rpc.errors import RpcError
from node.units import MarketUnits, format_price
from tests.processes.test_devnet_cli import cli, cli_json, free_base_port, teardown_devnet

ROOT = Path(__file__).resolve().parents[2]


def load_bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_venue", ROOT / "scripts" / "bench_venue.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["bench_venue"] = module  # dataclasses (and pickling for worker processes) look the module up
    spec.loader.exec_module(module)
    return module


# ================================================================ fast


def test_every_l2_config_carries_the_venue(tmp_path: Path) -> None:
    settings = DevnetSettings()
    docs = config_documents(DevnetLayout.at(tmp_path).processes(settings), settings)
    venue_genesis = None
    for name, doc in docs.items():
        parsed = tomllib.loads(dumps(doc))
        if name == "l1":
            assert parsed["l1"]["rollup"]["venue"] == venue_section()
            continue
        assert parsed["venue"] == venue_section(), name
        loaded = load_rollup_config(parsed).venue_genesis
        assert loaded and (venue_genesis is None or loaded == venue_genesis)
        venue_genesis = loaded
    symbols = [m["symbol"] for m in venue_section()["markets"]]
    assert symbols == ["BTC-PERP", "ETH-PERP"]
    assert venue_section()["oracle"] == to_checksum_address(dev_account(4).address)
    assert p.insurance_fund_address() in p.l2_genesis()


# ================================================================ slow: one devnet


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("venue") / "net"
    base = free_base_port(2)
    try:
        result = cli(
            "devnet",
            "up",
            "--dir",
            str(directory),
            "--detach",
            "--executors",
            "2",
            "--base-port",
            str(base),
            "--json",
            timeout=90,
        )
        state = json.loads(result.stdout)
        state["_dir"] = str(directory)
        state["_stderr"] = result.stderr
        state["_rpc"] = f"http://127.0.0.1:{base + p.SEQUENCER_PORT_OFFSET}"
        state["_executors"] = [f"http://127.0.0.1:{base + p.EXECUTOR_PORT_OFFSET + i}" for i in range(2)]
        yield state
    finally:
        teardown_devnet(directory)


def net(devnet: dict[str, Any]) -> list[str]:
    return ["--dir", devnet["_dir"]]


@pytest.mark.slow
def test_up_seeds_a_book_quickly(devnet: dict[str, Any]) -> None:
    match = re.search(r"venue: seeded 2 markets .* in ([0-9.]+) s", devnet["_stderr"])
    assert match, devnet["_stderr"][-2000:]
    assert float(match.group(1)) < 2.0
    book = cli_json("book", "BTC-PERP", *net(devnet))
    assert book["bids"] and book["asks"] and book["bids"][0]["price"] < book["asks"][0]["price"]
    assert book["oraclePrice"] == p.VENUE_START_PRICES[0]
    # human units beside the integers (node.units): 20 eth per BTC, sizes in BTC
    assert book["oraclePriceDecimal"] == "20"
    best_bid, best_ask = book["bids"][0], book["asks"][0]
    assert (best_bid["priceDecimal"], best_ask["priceDecimal"]) == ("19.999", "20.001")
    assert Fraction(best_bid["sizeDecimal"]) == Fraction(best_bid["size"] * 100, 10**8)
    human = cli("book", "btc-perp", "--depth", "2", *net(devnet)).stdout
    assert "ask" in human and "bid" in human and " 19.999 " in human and "(oracle 20)" in human
    positions = cli_json("positions", "dev0", *net(devnet))["positions"]
    assert {row["symbol"] for row in positions} == {"BTC-PERP", "ETH-PERP"} and all(r["size"] > 0 for r in positions)


@pytest.mark.slow
def test_rpc_shapes_and_bad_input_on_every_node(devnet: dict[str, Any]) -> None:
    for url in [devnet["_rpc"], *devnet["_executors"]]:
        client = SyncRpcClient(url)
        markets = client.call("rollup_getMarkets")
        assert [m["id"] for m in markets] == [0, 1]
        assert {"symbol", "tickSize", "oraclePrice", "bestBid", "bestAsk", "maxLeverage"} <= set(markets[0])
        book = client.call("rollup_getBook", "ETH-PERP", 1)
        assert len(book["bids"]) == 1
        assert set(book["bids"][0]) == {"price", "size", "orders", "priceDecimal", "sizeDecimal"}
        assert (markets[0]["baseDecimals"], markets[0]["quoteDecimals"], markets[1]["baseDecimals"]) == (8, 18, 18)
        row = client.call("rollup_getPositions", to_checksum_address(dev_account(2).address))[0]
        assert set(row) == {
            "market",
            "symbol",
            "size",
            "entryPrice",
            "markPrice",
            "unrealizedPnl",
            "marginRatio",
            "liquidationPrice",
            "sizeDecimal",
            "entryPriceDecimal",
            "markPriceDecimal",
            "unrealizedPnlDecimal",
            "liquidationPriceDecimal",
        }
        assert row["size"] < 0  # dev2 sold into the bid
        orders = client.call("rollup_getOrders", to_checksum_address(dev_account(1).address))
        assert orders and {o["side"] for o in orders} == {"buy"}
        assert client.call("rollup_getInsurance")["address"] == to_checksum_address(p.insurance_fund_address())
        for method, params, message in [
            ("rollup_getBook", ["NOPE"], "unknown market symbol"),
            ("rollup_getBook", [0, 0], "depth must be in [1, 500]"),
            ("rollup_getPositions", ["0x12"], "address must be 20 bytes"),
            ("rollup_getOrders", [], "rollup_getOrders"),
        ]:
            with pytest.raises(RpcError) as info:
                client.call(method, *params)
            assert info.value.code == -32602 and message in info.value.message, (method, info.value.message)


@pytest.mark.slow
def test_cli_orders_cancel_oracle_end_to_end(devnet: dict[str, Any], tmp_path: Path) -> None:
    n = net(devnet)
    markets = cli_json("markets", *n)
    btc = markets[0]
    tick, price = btc["tickSize"], btc["oraclePrice"]
    units = MarketUnits("BTC-PERP", btc["lotSize"], tick, btc["baseDecimals"], btc["quoteDecimals"], 2**48 - 1, 2**40)
    placed = cli_json(
        "order",
        "--market",
        "BTC-PERP",
        "--side",
        "buy",
        "--size",
        "0.000003",  # 3 lots of 100 sats
        "--price",
        format_price(price - 50 * tick, units),
        "--key",
        "dev5",
        "--wait",
        *n,
    )
    assert placed["receipts"]["sequencer"]["status"] == 1 and placed["type"] == "limit"
    assert (placed["size"], placed["sizeDecimal"]) == (3, "0.000003")
    mine = SyncRpcClient(devnet["_rpc"]).call("rollup_getOrders", to_checksum_address(dev_account(5).address))
    assert [(o["price"], o["size"]) for o in mine] == [(price - 50 * tick, 3)]
    cli_json("cancel", str(mine[0]["id"]), "--key", "dev5", "--wait", *n)
    for offset in (60, 61):
        cli_json(
            "order",
            "--market",
            "0",
            "--side",
            "buy",
            "--lots",
            "1",
            "--price-units",
            str(price - offset * tick),
            "--type",
            "post-only",
            "--key",
            "dev5",
            "--wait",
            *n,
        )
    cli_json("cancel-all", "--market", "BTC-PERP", "--key", "dev5", "--wait", *n)
    assert SyncRpcClient(devnet["_rpc"]).call("rollup_getOrders", to_checksum_address(dev_account(5).address)) == []
    # a market order (IOC at oracle +/- 10 %) opens a position
    cli_json("order", "--market", "ETH-PERP", "--side", "sell", "--lots", "1", "--key", "dev6", "--wait", *n)
    rows = cli_json("positions", "dev6", *n)["positions"]
    assert rows and rows[0]["symbol"] == "ETH-PERP" and rows[0]["size"] == -1
    # a rejected order: the node's typed error reaches the user
    bad = cli(
        "order",
        "--market",
        "BTC-PERP",
        "--side",
        "buy",
        "--lots",
        "1",
        "--price-units",
        str(price + 1),
        *n,
        check=False,
    )
    assert bad.returncode == 1 and "tick" in bad.stderr
    # an off-tick human price is refused by the CLI, naming the nearest valid prices
    off = cli(
        "order", "--market", "BTC-PERP", "--side", "buy", "--size", "0.001", "--price", "20.0005", *n, check=False
    )
    assert off.returncode == 1 and "the nearest valid prices are 20 and 20.001" in off.stderr
    # oracle: set, then a path
    new_price = price + 10 * tick
    cli_json("oracle", "set", "--market", "BTC-PERP", "--price", format_price(new_price, units), "--wait", *n)
    assert cli_json("markets", *n)[0]["oraclePrice"] == new_price
    path = tmp_path / "path.txt"
    path.write_text(
        f"# a short path\n{format_price(new_price + tick, units)}\n{format_price(new_price + 2 * tick, units)}\n"
    )
    played = cli_json("oracle", "path", "--market", "BTC-PERP", "--file", str(path), "--interval", "0.3", *n)
    assert len(played["updates"]) == 2
    deadline = time.monotonic() + 10
    while cli_json("markets", *n)[0]["oraclePrice"] != new_price + 2 * tick:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    not_oracle = cli(
        "oracle", "set", "--market", "BTC-PERP", "--price-units", str(price), "--key", "dev0", *n, check=False
    )
    assert not_oracle.returncode == 1 and "not the venue's oracle key" in not_oracle.stderr
    fund = cli_json("insurance", *n)
    assert int(fund["balance"]) > 0 and Fraction(fund["balanceDecimal"]) == Fraction(int(fund["balance"]), 10**18)


@pytest.mark.slow
def test_crash_liquidates_every_account_and_executors_agree(devnet: dict[str, Any]) -> None:
    bench = load_bench()
    rpc = bench.Rpc(devnet["_rpc"])
    signer = bench.Signer(rpc)
    follower = bench.Follower(rpc)
    follower.start()
    try:
        market = rpc.call("rollup_getMarkets")[0]
        price, tick = int(market["oraclePrice"]), int(market["tickSize"])
        traders = [bench.derived_key("trader", i) for i in range(10)]
        victims = [bench.derived_key("victim", i) for i in range(40)]
        bench.fund(rpc, signer, follower, traders, 10**20)
        bench.fund(rpc, signer, follower, victims, 10 * price // 8 + 2 * bench.FEE)
        result = bench.crash(
            rpc, signer, follower, traders, victims, price, tick, [bench.Rpc(u) for u in devnet["_executors"]], 400
        )
    finally:
        follower.stop.set()
    print(f"crash: lag {result['liquidation_block_lag']} blocks, {result['open_after_blocks']}", file=sys.stderr)
    assert result["update_status"] == 1 and result["opened"] == len(victims)
    assert result["liquidated"] == len(victims), result
    assert result["roots_agree"], result["roots"]
    # every one in the block that carries the price update (its end-of-block phase runs in chunks)
    assert result["liquidation_block_lag"] == 0, result
