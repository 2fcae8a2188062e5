"""node.units: parse_amount / format_amount, and their use by the CLI's amount flags."""

from __future__ import annotations

import re
from pathlib import Path

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
