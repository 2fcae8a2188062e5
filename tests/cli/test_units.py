"""node.units: parse_amount / format_amount, and their use by the CLI's amount flags."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.cli.common import parse_wei, wei_text
from node.cli.main import main
from node.devnet.errors import InputError
from node.units import MAX_WEI, AmountError, format_amount, parse_amount

UNIT_DECIMALS = {"wei": 0, "gwei": 9, "eth": 18, "ether": 18}


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("0", 0),
        ("123", 123),
        ("  123  ", 123),
        ("1.5eth", 1_500_000_000_000_000_000),
        ("1.5 ETH", 1_500_000_000_000_000_000),
        ("2 ether", 2 * 10**18),
        ("20gwei", 20 * 10**9),
        ("20 gwei", 20 * 10**9),
        ("0.000000001eth", 10**9),
        ("0.000000000000000001eth", 1),
        ("1.000000001 gwei", 10**9 + 1),
        ("7 wei", 7),
        ("7WEI", 7),
        ("0eth", 0),
        ("00012", 12),
        (str(MAX_WEI), MAX_WEI),
    ],
)
def test_parse_examples(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "amount is empty"),
        ("   ", "amount is empty"),
        ("-1", "must not be negative"),
        ("-1.5eth", "must not be negative"),
        ("+1", "must not have a sign"),
        ("1foo", "unknown unit 'foo'"),
        ("1 finney", "unknown unit 'finney'"),
        ("1.5wei", "has 1 fractional digits but wei allows at most 0"),
        ("1.5", "a bare number is wei and must be whole"),
        ("1.0000000001gwei", "has 10 fractional digits but gwei allows at most 9"),
        ("0.0000000000000000001eth", "has 19 fractional digits but eth allows at most 18"),
        ("1e18", "exponent notation is not accepted"),
        ("1.5E3 gwei", "exponent notation is not accepted"),
        (str(MAX_WEI + 1), "2^256 wei or more"),
        ("115792089237316195423570985008687907853269984665640564039458 eth", "2^256 wei or more"),
        ("9" * 300, "too long"),
        ("abc", "whole number of wei or a decimal number with a unit"),
        ("1,000", "whole number of wei or a decimal number with a unit"),
        (".5eth", "whole number of wei or a decimal number with a unit"),
        ("1.eth", "whole number of wei or a decimal number with a unit"),
        ("1.5.eth", "whole number of wei or a decimal number with a unit"),
        ("eth", "whole number of wei or a decimal number with a unit"),
        ("0x10", "whole number of wei or a decimal number with a unit"),
        ("1 eth wei", "whole number of wei or a decimal number with a unit"),
        ("\u0661", "whole number of wei or a decimal number with a unit"),  # Arabic-Indic digit one
    ],
)
def test_parse_rejections(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=re.escape(message)):
        parse_amount(text)


def test_amount_error_is_a_value_error() -> None:
    assert issubclass(AmountError, ValueError)


@pytest.mark.parametrize(
    ("wei", "text"),
    [
        (0, "0 wei"),
        (123, "123 wei"),
        (999_999, "999999 wei"),
        (10**6, "0.001 gwei"),
        (1_500_000_000, "1.5 gwei"),
        (20 * 10**9, "20 gwei"),
        (10**15 - 1, "999999.999999999 gwei"),
        (10**15, "0.001 eth"),
        (1_500_000_000_000_000_000, "1.5 eth"),
        (10**15 + 1, "0.001000000000000001 eth"),
    ],
)
def test_format_examples(wei: int, text: str) -> None:
    assert format_amount(wei) == text


@pytest.mark.parametrize("bad", [-1, MAX_WEI + 1])
def test_format_rejects_out_of_range(bad: int) -> None:
    with pytest.raises(AmountError):
        format_amount(bad)


wei_values = st.one_of(
    st.integers(min_value=0, max_value=MAX_WEI),
    st.integers(min_value=0, max_value=10**21),
    st.sampled_from([0, 1, 10**6 - 1, 10**6, 10**9, 10**15 - 1, 10**15, 10**18, MAX_WEI]),
)


@given(wei_values)
def test_format_round_trips(wei: int) -> None:
    assert parse_amount(format_amount(wei)) == wei


@given(st.integers(min_value=0, max_value=MAX_WEI))
def test_bare_integer_is_wei(wei: int) -> None:
    assert parse_amount(str(wei)) == wei


@given(
    st.sampled_from(sorted(UNIT_DECIMALS)),
    st.integers(min_value=0, max_value=10**30),
    st.data(),
    st.sampled_from(["", " "]),
    st.booleans(),
)
def test_unit_text_is_exact(unit: str, whole: int, data: st.DataObject, space: str, upper: bool) -> None:
    decimals = UNIT_DECIMALS[unit]
    digits = data.draw(st.integers(min_value=0, max_value=decimals))
    frac = data.draw(st.integers(min_value=0, max_value=10**digits - 1)) if digits else 0
    text = f"{whole}.{str(frac).rjust(digits, '0')}" if digits else str(whole)
    expected = whole * 10**decimals + frac * 10 ** (decimals - digits)
    spelled = f"{text}{space}{unit.upper() if upper else unit}"
    if expected > MAX_WEI:
        with pytest.raises(AmountError, match="2\\^256"):
            parse_amount(spelled)
    else:
        assert parse_amount(spelled) == expected


@given(st.text(max_size=30))
def test_parse_returns_wei_in_range_or_amount_error(text: str) -> None:
    try:
        value = parse_amount(text)
    except AmountError:
        return
    assert 0 <= value <= MAX_WEI


# ---------------------------------------------------------------- the CLI's amount flags


def test_cli_parse_wei_units_and_legacy_forms() -> None:
    assert parse_wei("1.5eth", "--amount") == 1_500_000_000_000_000_000
    assert parse_wei("20gwei", "--fee") == 20 * 10**9
    assert parse_wei("123", "--amount") == 123
    assert parse_wei("0x10", "--amount") == 16
    assert parse_wei("1_000", "--amount") == 1000
    assert parse_wei("0gwei", "--fee", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0eth", "--amount must be at least 1 wei"),
        ("1.5wei", "--amount: '1.5wei' has 1 fractional digits"),
        ("2 dogecoin", "--amount: unknown unit 'dogecoin'"),
        ("1e18", "--amount: exponent notation"),
        ("ten", "whole number"),
        ("-1eth", "must not be negative"),
    ],
)
def test_cli_parse_wei_rejections(text: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse_wei(text, "--amount")


def test_wei_text() -> None:
    assert wei_text(123) == "123 wei"
    assert wei_text("1500000000") == "1500000000 wei (1.5 gwei)"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["send", "--to", "dev1", "--amount", "1.5wei"], "--amount: '1.5wei' has 1 fractional digits"),
        (["send", "--to", "dev1", "--amount", "1", "--fee", "2 foo"], "--fee: unknown unit 'foo'"),
        (["deposit", "--amount", "1e18"], "--amount: exponent notation"),
        (["withdraw", "--amount", "0 eth"], "--amount must be at least 1 wei"),
    ],
)
def test_cli_rejects_bad_units_before_any_network_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], message: str
) -> None:
    monkeypatch.setenv("ROLLUP_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--rpc", "http://127.0.0.1:9/", "--l1-rpc", "http://127.0.0.1:9/"])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert message in err
    assert "cannot reach" not in err


# ---------------------------------------------------------------- the venue's human prices and sizes


class FakeNode:
    """A JSON-RPC node on a free loopback port serving node.venue.rpc over an in-memory venue with the devnet's
    markets (plus SOL-PERP, declaring no decimals); records every raw transaction sent to it."""

    def __init__(self) -> None:
        from node.devnet.configs import venue_section
        from node.devnet.params import VENUE_START_PRICES
        from node.venue.markets import load_markets
        from node.venue.payloads import PlaceOrder
        from node.venue.rpc import VenueMethods
        from node.venue.side import Side
        from tests.venue.support import KEYS, A, B, new_venue

        btc, eth = load_markets({"venue": venue_section()})
        sol = replace(eth, market_id=2, symbol="SOL-PERP", base_decimals=None, quote_decimals=None)
        venue = new_venue({A: 10**22, B: 10**22}, markets=(btc, eth, sol), prices={**VENUE_START_PRICES, 2: 10**12})
        price = VENUE_START_PRICES[0]
        venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 1500, price - btc.tick_size))
        venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 2000, price + btc.tick_size))
        self.methods = VenueMethods(self)
        self.venue = venue
        self.sent: list[bytes] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def resolve(self, tag: int | str) -> int:
        return 9

    def state(self, number: int) -> Any:
        return self.venue.state

    def answer(self, method: str, params: list[Any]) -> Any:
        if method.startswith("rollup_get") and hasattr(self.methods, method[len("rollup_") :]):
            return getattr(self.methods, method[len("rollup_") :])(params)
        if method == "rollup_chainId":
            return 901
        if method == "rollup_getNonce":
            return 0
        if method == "rollup_getBlockByNumber":
            return {"number": 9, "timestamp": 1_700_000_000_000}
        if method == "rollup_sendRawTransaction":
            from node.tx import recover

            self.sent.append(bytes.fromhex(params[0][2:]))
            return "0x" + bytes(recover(self.sent[-1]).hash).hex()
        raise KeyError(method)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        node = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                batch = request if isinstance(request, list) else [request]
                replies = []
                for call in batch:
                    try:
                        replies.append(
                            {
                                "jsonrpc": "2.0",
                                "id": call["id"],
                                "result": node.answer(call["method"], call.get("params", [])),
                            }
                        )
                    except KeyError:
                        replies.append(
                            {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32601, "message": "no such method"}}
                        )
                    except ValueError as exc:
                        replies.append(
                            {"jsonrpc": "2.0", "id": call["id"], "error": {"code": -32602, "message": str(exc)}}
                        )
                body = json.dumps(replies if isinstance(request, list) else replies[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def fake_node() -> Iterator[FakeNode]:
    node = FakeNode()
    try:
        yield node
    finally:
        node.close()


def run_cli(
    node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *argv: str
) -> tuple[int, str, str]:
    monkeypatch.setenv("ROLLUP_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    node.sent.clear()
    code = main([*argv, "--rpc", node.url])
    out, err = capsys.readouterr()
    return code, out, err


BTC_PRICE = 20 * 10**12  # the devnet's BTC-PERP start price: 20 eth per BTC, in wei per lot (100 sats)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--size", "abc", "--price", "20"], "--size must be a decimal number such as 60000.5 or 0.001, got 'abc'"),
        (["--size", "0.001", "--price", "20,5"], "--price must be a decimal number"),
        (["--size", "0.001", "--price", "2e1"], "--price: exponent notation is not accepted"),
        (
            ["--size", "0.000000001", "--price", "20"],
            "--size 0.000000001 has 9 decimals but BTC-PERP's base asset has 8",
        ),
        (["--size=-0.001", "--price", "20"], "--size must not be negative, got '-0.001'"),
        (["--size", "0.001", "--price=-20"], "--price must not be negative"),
        (
            ["--size", "0.001", "--price", "20.0005"],
            "--price 20.0005 is not a multiple of the tick 0.001 of BTC-PERP: "
            "the nearest valid prices are 20 and 20.001",
        ),
        (
            ["--size", "0.0000015", "--price", "20"],
            "the nearest valid sizes are 0.000001 and 0.000002",
        ),
        (["--size", "0", "--price", "20"], "--size must be positive"),
        (["--size", "0.001", "--price", "0"], "--price must be positive"),
        (
            ["--size", "0.001", "--price", "60000.5"],
            "--price 60000.5 is above the largest price BTC-PERP can hold, 281.474",
        ),
        (["--lots", "0", "--price", "20"], "--lots must be at least 1"),
        (["--lots", "1.5", "--price", "20"], "--lots"),
        (["--lots", "1", "--price-units", "0"], "--price-units must be at least 1"),
        (["--lots", "1", "--price-units", "20.5"], "--price-units"),
    ],
)
def test_order_rejects_bad_human_values_before_sending(
    fake_node: FakeNode,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    argv: list[str],
    message: str,
) -> None:
    code, out, err = run_cli(
        fake_node, capsys, monkeypatch, tmp_path, "order", "--market", "BTC-PERP", "--side", "buy", *argv
    )
    assert code == 1 and out == "", err
    assert message in err
    assert fake_node.sent == []


def test_order_flags_are_exclusive_and_size_required(
    fake_node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for argv in (["--size", "1", "--lots", "1"], ["--lots", "1", "--price", "20", "--price-units", "1"], []):
        with pytest.raises(SystemExit) as info:
            run_cli(fake_node, capsys, monkeypatch, tmp_path, "order", "--market", "0", "--side", "buy", *argv)
        assert info.value.code == 2
    assert fake_node.sent == []


def test_a_market_without_decimals_needs_the_integer_flags(
    fake_node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, _, err = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "order",
        "--market",
        "SOL-PERP",
        "--side",
        "buy",
        "--size",
        "1",
        "--price",
        "2",
    )
    assert code == 1 and "SOL-PERP declares no base/quote decimals: give --lots instead of --size" in err
    code, _, err = run_cli(fake_node, capsys, monkeypatch, tmp_path, "oracle", "set", "--market", "2", "--price", "2")
    assert code == 1 and "give --price-units instead of --price" in err
    assert fake_node.sent == []
    code, out, err = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "order",
        "--market",
        "SOL-PERP",
        "--side",
        "buy",
        "--lots",
        "3",
        "--price-units",
        "100000000",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["size"] == 3 and "sizeDecimal" not in json.loads(out)


def test_human_order_sends_the_exact_integers(
    fake_node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from node.tx import recover
    from node.venue.payloads import OrderType, PlaceOrder
    from node.venue.side import Side

    code, out, err = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "order",
        "--market",
        "btc-perp",
        "--side",
        "buy",
        "--size",
        "0.001",
        "--price",
        "20.5",
    )
    assert code == 0, err
    assert "order sent (buy 0.001 BTC BTC-PERP @ 20.5, limit)" in out
    (raw,) = fake_node.sent
    assert recover(raw).tx.payload == PlaceOrder(0, Side.BUY, 1000, 20_500_000_000_000, OrderType.GTC)
    code, out, _ = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "order",
        "--market",
        "0",
        "--side",
        "sell",
        "--lots",
        "7",
        "--price-units",
        str(BTC_PRICE),
        "--json",
    )
    data = json.loads(out)
    assert code == 0 and (data["size"], data["price"]) == (7, BTC_PRICE)
    assert (data["sizeDecimal"], data["priceDecimal"]) == ("0.000007", "20")
    assert recover(fake_node.sent[0]).tx.payload == PlaceOrder(0, Side.SELL, 7, BTC_PRICE, OrderType.GTC)


def test_oracle_set_and_path_take_human_prices(
    fake_node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from node.tx import recover

    code, out, err = run_cli(
        fake_node, capsys, monkeypatch, tmp_path, "oracle", "set", "--market", "ETH-PERP", "--price", "1.0001", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["price"] == 1_000_100_000_000 and json.loads(out)["priceDecimal"] == "1.0001"
    assert recover(fake_node.sent[0]).tx.payload.price == 1_000_100_000_000
    path = tmp_path / "path.txt"
    path.write_text("# eth per BTC\n20.001\n20.002  # up\n")
    code, out, err = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "oracle",
        "path",
        "--market",
        "BTC-PERP",
        "--file",
        str(path),
        "--interval",
        "0",
        "--json",
    )
    assert code == 0, err
    assert [(u["price"], u["priceDecimal"]) for u in json.loads(out)["updates"]] == [
        (20_001_000_000_000, "20.001"),
        (20_002_000_000_000, "20.002"),
    ]
    path.write_text("20.001\n20.0015\n")
    code, _, err = run_cli(
        fake_node, capsys, monkeypatch, tmp_path, "oracle", "path", "--market", "BTC-PERP", "--file", str(path)
    )
    assert code == 1 and f"{path}:2: price 20.0015 is not a multiple of the tick 0.001" in err and fake_node.sent == []
    path.write_text(f"{BTC_PRICE}\n")
    code, out, err = run_cli(
        fake_node,
        capsys,
        monkeypatch,
        tmp_path,
        "oracle",
        "path",
        "--market",
        "BTC-PERP",
        "--file",
        str(path),
        "--units",
        "--json",
    )
    assert code == 0 and json.loads(out)["updates"][0]["priceDecimal"] == "20", err
    code, _, err = run_cli(
        fake_node, capsys, monkeypatch, tmp_path, "oracle", "path", "--market", "BTC-PERP", "--file", str(path)
    )
    assert code == 1 and "is above the largest price" in err


def test_reads_print_human_values_and_json_carries_both(
    fake_node: FakeNode, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    code, out, _ = run_cli(fake_node, capsys, monkeypatch, tmp_path, "markets")
    btc_line = next(line for line in out.splitlines() if "BTC-PERP" in line)
    assert (
        code == 0
        and btc_line.split()[2:5] == ["20", "19.999", "20.001"]
        and "0.000001" in btc_line
        and "8/18" in btc_line
    )
    sol_line = next(line for line in out.splitlines() if "SOL-PERP" in line)
    assert str(10**12) in sol_line and sol_line.split()[-2] == "-"
    code, out, _ = run_cli(fake_node, capsys, monkeypatch, tmp_path, "book", "BTC-PERP")
    assert code == 0 and "SIZE (BTC)" in out and "(oracle 20)" in out
    assert [line.split()[:2] for line in out.splitlines() if line.endswith(("bid", "ask"))] == [
        ["20.001", "0.002"],
        ["19.999", "0.0015"],
    ]
    code, out, _ = run_cli(fake_node, capsys, monkeypatch, tmp_path, "book", "BTC-PERP", "--json")
    level = json.loads(out)["bids"][0]
    assert level == {
        "price": BTC_PRICE - 10**9,
        "size": 1500,
        "orders": 1,
        "priceDecimal": "19.999",
        "sizeDecimal": "0.0015",
    }
    code, out, _ = run_cli(fake_node, capsys, monkeypatch, tmp_path, "insurance")
    assert code == 0 and re.search(r"balance:\s+[0-9.]+ eth", out)
    code, out, _ = run_cli(fake_node, capsys, monkeypatch, tmp_path, "positions", to_checksum_address_of(0))
    assert code == 0 and "order " in out and "0.0015 @ 19.999" in out


def to_checksum_address_of(index: int) -> str:
    from node.crypto import to_checksum_address
    from tests.venue.support import KEYS

    return to_checksum_address(KEYS[index].address)
