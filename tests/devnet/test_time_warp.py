"""Moving the whole devnet's time forward (devnet_increaseTime, `rollup devnet warp`) on real processes.

One detached devnet (two executors) serves the module and is always torn down. The scenario: a
funding interval passes in seconds of wall time (the market's funding index moves, which it does
not while wall time runs on), blocks keep flowing on L2 and every executor agrees with the
sequencer on the blocks sealed in the new time, a restarted sequencer keeps the offset, further
warps through the CLI and the client add to it, and a revert to a snapshot taken before brings time
back. Also: `devnet set-price` in human units or exact units.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from node.client import RollupClient
from node.clock import MAX_OFFSET_MS
from node.devnet.handle import Devnet
from node.rpc.client import SyncRpcClient
from node.rpc.errors import ControlRefused, InvalidParams, RpcError
from tests.processes.test_devnet_cli import cli, cli_json, free_base_port, teardown_devnet, wait_for

pytestmark = pytest.mark.slow

HOUR_S = 3600
MARKET = "BTC-PERP"
BPS = 10_000


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("warp") / "net"
    base = free_base_port(2)
    try:
        cli(
            "devnet",
            "up",
            "--dir",
            str(directory),
            "--detach",
            "--executors",
            "2",
            "--base-port",
            str(base),
            timeout=300,
        )
        yield Devnet.from_dir(directory)
    finally:
        teardown_devnet(directory)


def rpc(url: str) -> SyncRpcClient:
    return SyncRpcClient(url, timeout=30)


def process_urls(devnet: Devnet) -> dict[str, str]:
    return {p["name"]: p["rpc"] for p in devnet.status()["processes"]}


def offsets(devnet: Devnet) -> dict[str, int]:
    return {name: int(rpc(url).call("devnet_getTimeOffset")["offsetMs"]) for name, url in process_urls(devnet).items()}


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def head(devnet: Devnet) -> dict[str, Any]:
    return dict(rpc(devnet.endpoints["sequencer"]).call("rollup_getBlockByNumber", "latest", False))


def market_at(devnet: Devnet, number: int) -> dict[str, Any]:
    markets = rpc(devnet.endpoints["sequencer"]).call("rollup_getMarkets", number)
    return next(m for m in markets if m["symbol"] == MARKET)


def funding_at(devnet: Devnet, number: int) -> tuple[int, int]:
    """(funding index, funding epoch of the block's timestamp) at block `number`."""
    market = market_at(devnet, number)
    block = rpc(devnet.endpoints["sequencer"]).call("rollup_getBlockByNumber", number, False)
    return int(market["fundingIndex"]), int(block["timestamp"]) // int(market["fundingIntervalMs"])


def expected_step(market: dict[str, Any]) -> int:
    """node.venue.funding.compute_funding_step over the market's read-out book and oracle."""
    oracle = int(market["oraclePrice"])
    premium = (int(market["bestBid"]) + int(market["bestAsk"])) // 2 - oracle
    cap = oracle * int(market["fundingCapBps"]) // BPS
    return max(-cap, min(cap, premium))


def later_block(devnet: Devnet, after: int) -> dict[str, Any]:
    return dict(wait_for(lambda: (h := head(devnet))["number"] > after and h, 60, f"an L2 block after {after}"))


def agree_on(devnet: Devnet, number: int) -> None:
    """Every executor derives block `number` as safe from L1 and holds exactly the sequencer's block."""
    sequencer = rpc(devnet.endpoints["sequencer"]).call("rollup_getBlockByNumber", number, False)
    for url in devnet.endpoints["executors"]:
        executor = rpc(url)
        wait_for(
            lambda ex=executor: int(ex.call("rollup_syncStatus")["safe"]["number"]) >= number,
            180,
            f"{url} safe at {number}",
        )
        block = executor.call("rollup_getBlockByNumber", number, False)
        assert (block["hash"], block["stateRoot"]) == (sequencer["hash"], sequencer["stateRoot"]), url


def test_a_warp_passes_a_funding_interval_and_a_revert_brings_time_back(devnet: Devnet) -> None:
    client = RollupClient.from_devnet(devnet.directory)
    assert set(offsets(devnet).values()) == {0}
    snapshot = devnet.snapshot()
    seeded = market_at(devnet, head(devnet)["number"])

    # a premium between the book and the oracle, so a funding step is not zero
    set_price = devnet.set_oracle_price(MARKET, "19.9")  # human: eth per BTC, as `rollup oracle set --price`
    first = int(set_price["blockNumber"])
    market = market_at(devnet, first)
    step = expected_step(market)
    assert step > 0 and int(market["oraclePrice"]) == int(set_price["price"]) == 19_900_000_000_000
    index_first, epoch_first = funding_at(devnet, first)

    # wall time alone: no new funding interval in a few seconds (unless a real hour boundary passed)
    before = later_block(devnet, first + 3)
    index_before, epoch_before = funding_at(devnet, before["number"])
    assert index_before - index_first == step * (epoch_before - epoch_first)

    warp = devnet.increase_time(HOUR_S)
    assert warp["offsetMs"] == HOUR_S * 1000 and warp["seconds"] == HOUR_S
    assert set(offsets(devnet).values()) == {HOUR_S * 1000}  # every process: L1, sequencer, executors, ...
    assert warp["l2Timestamp"] >= warp["l1Timestamp"] >= before["timestamp"] + HOUR_S * 1000
    assert client.chain_time_ms() >= wall_ms() + HOUR_S * 1000 - 30_000

    after = later_block(devnet, int(warp["l2Block"]) + 3)  # blocks keep flowing, in the new time
    assert after["timestamp"] >= wall_ms() + HOUR_S * 1000 - 30_000
    index_after, epoch_after = funding_at(devnet, after["number"])
    assert epoch_after - epoch_before >= 1
    assert index_after - index_before == step * (epoch_after - epoch_before)  # the funding payment

    # the chain's time rules judge by chain time: an oracle update after the warp goes through
    update = devnet.set_oracle_price(MARKET, "19.95")
    assert int(update["timestampMs"]) >= warp["l1Timestamp"]
    agree_on(devnet, after["number"])
    assert rpc(devnet.endpoints["l1"]).call("l1_getGames", 0, 10) == []  # the honest challenger disputes nothing

    # a restarted sequencer keeps its offset and seals in the new time
    devnet.restart("sequencer")
    assert rpc(devnet.endpoints["sequencer"]).call("devnet_getTimeOffset")["offsetMs"] == HOUR_S * 1000
    restarted = later_block(devnet, head(devnet)["number"] + 2)
    assert restarted["timestamp"] >= wall_ms() + HOUR_S * 1000 - 30_000

    # a second warp through the CLI adds to the first; more than 10 years in all is refused
    second = cli_json("devnet", "warp", "30m", "--dir", str(devnet.directory))
    assert second["offsetMs"] == 90 * 60 * 1000 and set(offsets(devnet).values()) == {90 * 60 * 1000}
    third = client.increase_time("0.5")  # the client (from_devnet) knows the control endpoint too
    assert third["offsetMs"] == 90 * 60 * 1000 + 500 and set(offsets(devnet).values()) == {5_400_500}
    with pytest.raises(InvalidParams, match=r"already 5400 s ahead: 315360000 s more would pass the limit"):
        devnet.increase_time(MAX_OFFSET_MS // 1000)
    agree_on(devnet, later_block(devnet, int(third["l2Block"]))["number"])

    # revert: every process back on the snapshot's clock (the wall clock), state and funding index with it
    devnet.revert(snapshot)
    assert set(offsets(devnet).values()) == {0}
    l1_head = rpc(devnet.endpoints["l1"]).call("l1_getBlockByNumber", "latest")
    assert l1_head["timestamp"] <= wall_ms() + 5_000
    reverted = later_block(devnet, head(devnet)["number"] + 2)
    assert reverted["timestamp"] <= wall_ms() + 5_000
    back = market_at(devnet, reverted["number"])
    assert back["oraclePrice"] == seeded["oraclePrice"]
    assert int(back["fundingIndex"]) == int(seeded["fundingIndex"])


def test_bad_warps_are_refused_and_the_devnet_keeps_running(devnet: Devnet) -> None:
    control = rpc(devnet.control_url)
    before = offsets(devnet)
    for params, message in (
        ([-5], "seconds must be at least 0: time only moves forward, got -5"),
        (["-0.5"], "seconds must be at least 0: time only moves forward, got '-0.5'"),
        (["soon"], "seconds must be a number of seconds (e.g. 3600 or 1.5), got 'soon'"),
        ([None], "seconds must be a number of seconds (e.g. 3600 or 1.5), got None"),
        ([10**12], "seconds may be at most 315360000 (10 years), got 1000000000000"),
        ([], "devnet_increaseTime takes 1 param(s), got 0"),
    ):
        with pytest.raises(RpcError) as caught:
            control.call("devnet_increaseTime", *params)
        assert caught.value.code == InvalidParams.CODE and caught.value.message == message, params
    # one process's clock: forward only, on the wire
    sequencer = rpc(devnet.endpoints["sequencer"])
    with pytest.raises(RpcError, match="time only moves forward: offset -1 ms is below the current offset"):
        sequencer.call("devnet_setTimeOffset", -1)
    # the CLI checks before sending, exit 2 naming the fault
    for argument, message in (
        ("-5", "time only moves forward: SECONDS must be at least 0, got '-5'"),
        ("soon", "expected seconds (3600, 1.5) or a duration (90m, 1h, 2d), got 'soon'"),
        ("4000d", "SECONDS may be at most 315360000 (10 years), got '4000d'"),
    ):
        result = cli("devnet", "warp", argument, "--dir", str(devnet.directory), check=False)
        assert result.returncode == 2 and message in result.stderr, (argument, result.stderr)
    # a paused process could not take the offset: refused before anything changes
    devnet.pause("executor-0")
    try:
        with pytest.raises(ControlRefused, match="cannot move time while executor-0 is paused: resume it first"):
            devnet.increase_time(60)
    finally:
        devnet.resume("executor-0")
    assert offsets(devnet) == before
    assert devnet.status()["all_alive"]
    later_block(devnet, head(devnet)["number"])


def test_set_price_takes_a_human_price_or_exact_units_as_oracle_set_does(devnet: Devnet) -> None:
    directory = str(devnet.directory)
    human = cli_json("devnet", "set-price", MARKET, "20.002", "--dir", directory)  # eth per BTC
    assert human["market"] == MARKET and human["price"] == "20002000000000"  # 20.002 x 10^12 wei per 100-sat lot
    raw = cli_json("devnet", "set-price", "btc-perp", "--price-units", "20001000000000", "--dir", directory)
    assert raw["price"] == "20001000000000"
    assert int(market_at(devnet, int(raw["blockNumber"]))["oraclePrice"]) == 20_001_000_000_000
    assert devnet.set_oracle_price(MARKET, Decimal("20.003"))["price"] == "20003000000000"
    off_tick = cli("devnet", "set-price", MARKET, "20.0005", "--dir", directory, check=False)
    assert off_tick.returncode == 1 and "not a multiple of the tick" in off_tick.stderr
    assert "(code -32602)" in off_tick.stderr
    for args, message in (
        (["--price-units", "abc"], "--price-units must be an integer (wei per lot), got 'abc'"),
        (["--price-units", "0"], "--price-units must be in [1, 2^64-1], got 0"),
        (["20", "--price-units", "5"], "not allowed with argument"),
        ([], "one of the arguments PRICE --price-units is required"),
    ):
        result = cli("devnet", "set-price", MARKET, *args, "--dir", directory, check=False)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    with pytest.raises(InvalidParams, match="price must be a positive decimal such as '20.5'"):
        rpc(devnet.control_url).call("devnet_setOraclePrice", MARKET, "twenty")
    assert int(market_at(devnet, head(devnet)["number"])["oraclePrice"]) == 20_003_000_000_000
