"""Human units for the venue: node.units price/size conversions, market decimals in config and state, RPC fields.

Conversions are checked as properties over random markets (any lot of 2s and 5s, any tick, decimals in
[0, 30]): exact round trips, exact values, refusal of what is not a whole number of ticks or lots (naming
the nearest valid values) and of what is out of range. Market decimals: TOML validation, the record is
unchanged (same bytes, same roots) without them and round-trips with them. RPC: every price, size and
amount integer gets its `<field>Decimal` twin, and a market without decimals answers as before.
"""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.crypto import to_checksum_address
from node.encoding import DecodeError, pack, unpack
from node.state.view import DictState
from node.units import (
    MAX_DECIMALS,
    AmountError,
    MarketUnits,
    format_decimal,
    format_price,
    format_size,
    format_units,
    is_decimal_friendly,
    parse_decimal,
    parse_price,
    parse_size,
)
from node.venue.keys import market_key
from node.venue.markets import (
    MAX_PRICE,
    MarketConfigError,
    decode_market,
    encode_market,
    genesis_writes,
    load_markets,
)
from node.venue.orders import MAX_ORDER_LOTS
from node.venue.payloads import OrderType, PlaceOrder
from node.venue.rpc import VenueMethods, get_market_units
from node.venue.side import Side
from tests.venue.support import BTC, ETH, FUND, KEYS, ORACLE_KEY, A, B, C, new_venue

# BTC-like: a lot is 100 sats (0.000001 BTC), a tick 10^9 wei per lot = 0.001 (eth per BTC)
BTC_U = MarketUnits("BTC-PERP", 100, 10**9, 8, 18, MAX_PRICE, MAX_ORDER_LOTS)


# ================================================================ node.units: examples


@pytest.mark.parametrize(
    ("text", "units"),
    [
        ("20", 2 * 10**13),
        ("20.001", 20_001 * 10**9),
        ("0.001", 10**9),
        ("281.474", 281_474 * 10**9),
        ("20.000", 2 * 10**13),
    ],
)
def test_price_examples(text: str, units: int) -> None:
    assert parse_price(text, BTC_U) == units
    assert parse_price(format_price(units, BTC_U), BTC_U) == units


@pytest.mark.parametrize(("text", "lots"), [("0.001", 1000), ("0.000001", 1), ("1", 10**6), ("2.5", 2_500_000)])
def test_size_examples(text: str, lots: int) -> None:
    assert parse_size(text, BTC_U) == lots


def test_formatting_is_canonical_and_signed() -> None:
    assert format_price(2 * 10**13, BTC_U) == "20"
    assert format_price(20_500 * 10**9, BTC_U) == "20.5"
    assert format_price(-(10**9), BTC_U) == "-0.001"
    assert format_price(1, BTC_U) == "0.000000000001"
    assert format_size(-3, BTC_U) == "-0.000003" and format_size(0, BTC_U) == "0"
    assert format_units(1_500_000_000_000_000_000, 18) == "1.5" and format_units(-5, 0) == "-5"
    assert format_decimal(1, 8) == "0.125"
    with pytest.raises(AmountError, match="no finite decimal form"):
        format_decimal(1, 3)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "price is empty"),
        ("-1", "must not be negative"),
        ("+1", "must not have a sign"),
        ("1e3", "exponent notation"),
        ("1,000", "must be a decimal number"),
        (".5", "must be a decimal number"),
        ("5.", "must be a decimal number"),
        ("20 eth", "must be a decimal number"),
        ("0x10", "must be a decimal number"),
        ("nan", "must be a decimal number"),
        ("\u0661", "must be a decimal number"),
        ("9" * 300, "too long"),
        ("0", "must be positive"),
        ("0.0000", "must be positive"),
        ("20.0005", "is not a multiple of the tick 0.001 of BTC-PERP: the nearest valid prices are 20 and 20.001"),
        ("0.0001", "the nearest valid price is 0.001"),
        ("282", "is above the largest price BTC-PERP can hold, 281.474"),
    ],
)
def test_price_rejections(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=re.escape(message)):
        parse_price(text, BTC_U)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-0.001", "must not be negative"),
        ("0", "must be positive, got '0' (the smallest is one lot, 0.000001)"),
        ("0.000000001", "has 9 decimals but BTC-PERP's base asset has 8 (one lot is 0.000001)"),
        ("0.0000015", "not a whole number of lots of BTC-PERP (one lot is 0.000001): the nearest valid sizes are "),
        ("0.00000001", "the nearest valid size is 0.000001"),
        ("99999999999", "is above the largest order size"),
        ("1 btc", "must be a decimal number"),
    ],
)
def test_size_rejections(text: str, message: str) -> None:
    with pytest.raises(AmountError, match=re.escape(message)):
        parse_size(text, BTC_U)


def test_market_units_refuse_a_lot_without_a_finite_decimal_form() -> None:
    assert is_decimal_friendly(2500) and is_decimal_friendly(1) and not is_decimal_friendly(3)
    with pytest.raises(AmountError, match="lot_size 3 must be a product of 2s and 5s"):
        MarketUnits("X", 3, 1, 8, 18, MAX_PRICE, MAX_ORDER_LOTS)
    with pytest.raises(AmountError, match="base_decimals must be an integer"):
        MarketUnits("X", 10, 1, MAX_DECIMALS + 1, 18, MAX_PRICE, MAX_ORDER_LOTS)


# ================================================================ node.units: properties

lots_2_5 = st.builds(lambda a, b: 2**a * 5**b, st.integers(0, 14), st.integers(0, 14))
markets = st.builds(
    lambda lot, tick, bd, qd: MarketUnits("M", lot, tick, bd, qd, MAX_PRICE, MAX_ORDER_LOTS),
    lots_2_5,
    st.one_of(st.integers(1, 1000), st.integers(1, 10**12)),
    st.integers(0, MAX_DECIMALS),
    st.integers(0, MAX_DECIMALS),
)


def human_price(units: int, m: MarketUnits) -> Fraction:
    return Fraction(units * 10**m.base_decimals, m.lot_size * 10**m.quote_decimals)


@given(markets, st.data())
def test_price_round_trips_exactly(m: MarketUnits, data: st.DataObject) -> None:
    ticks = data.draw(st.integers(1, MAX_PRICE // m.tick_size), label="ticks")
    units = ticks * m.tick_size
    text = format_price(units, m)
    assert Fraction(text) == human_price(units, m)  # exact
    assert parse_price(text, m) == units
    # trailing zeros and surrounding spaces name the same price
    padded = f"  {text}{'' if '.' in text else '.'}000 "
    assert parse_price(padded, m) == units


@given(markets, st.integers(-(2**63), 2**63))
def test_any_integer_price_or_size_formats_exactly(m: MarketUnits, value: int) -> None:
    assert Fraction(format_price(value, m)) == human_price(value, m)
    assert Fraction(format_size(value, m)) == Fraction(value * m.lot_size, 10**m.base_decimals)


@given(markets, st.data())
def test_a_price_between_two_ticks_is_refused_with_both_neighbours(m: MarketUnits, data: st.DataObject) -> None:
    ticks = data.draw(st.integers(0, MAX_PRICE // m.tick_size - 1), label="ticks")
    # a point strictly inside (ticks, ticks + 1) x tick, possibly finer than one unit
    inside = Fraction(ticks * m.tick_size) + Fraction(m.tick_size, 2) * Fraction(data.draw(st.integers(1, 3)), 2)
    value = inside * Fraction(10**m.base_decimals, m.lot_size * 10**m.quote_decimals)
    text = format_decimal(value.numerator, value.denominator)
    with pytest.raises(AmountError) as info:
        parse_price(text, m)
    message = str(info.value)
    above = format_price((ticks + 1) * m.tick_size, m)
    assert f" {above}" in message
    if ticks:
        assert f" {format_price(ticks * m.tick_size, m)} and " in message


@given(markets)
def test_price_bounds(m: MarketUnits) -> None:
    top = MAX_PRICE // m.tick_size * m.tick_size
    assert parse_price(format_price(top, m), m) == top
    with pytest.raises(AmountError, match="above the largest price"):
        parse_price(format_price(top + m.tick_size, m), m)
    with pytest.raises(AmountError, match="must be positive"):
        parse_price("0", m)


@given(markets, st.integers(1, MAX_ORDER_LOTS))
def test_size_round_trips_and_bounds(m: MarketUnits, lots: int) -> None:
    assert parse_size(format_size(lots, m), m) == lots
    with pytest.raises(AmountError, match="above the largest order size"):
        parse_size(format_size(MAX_ORDER_LOTS + 1, m), m)


@given(markets.filter(lambda m: m.lot_size > 1), st.integers(0, 10**6), st.data())
def test_a_size_between_two_lots_is_refused(m: MarketUnits, lots: int, data: st.DataObject) -> None:
    atoms = lots * m.lot_size + data.draw(st.integers(1, m.lot_size - 1))
    text = format_units(atoms, m.base_decimals) if m.base_decimals else str(atoms)
    with pytest.raises(AmountError, match="not a whole number of lots|the nearest valid size"):
        parse_size(text, m)


@given(st.text(max_size=30))
def test_parse_decimal_never_crashes(text: str) -> None:
    try:
        value = parse_decimal(text, "x")
    except AmountError:
        return
    assert value.digits >= 0 and value.scale >= 0


# ================================================================ market decimals: config and state


def toml_doc(**extra: Any) -> dict[str, Any]:
    market = {
        "id": 0,
        "symbol": "BTC-PERP",
        "tick_size": 1,
        "lot_size": 1000,
        "initial_margin_bps": 1000,
        "maintenance_margin_bps": 500,
        "max_leverage": 10,
        "funding_interval_ms": 60_000,
        "funding_cap_bps": 100,
        "liquidation_fee_bps": 100,
        "maker_fee_bps": 0,
        "taker_fee_bps": 0,
        "oracle_band_bps": 2000,
        **extra,
    }
    return {"venue": {"markets": [market]}}


def test_toml_decimals_are_optional_and_quote_defaults_to_18() -> None:
    (plain,) = load_markets(toml_doc())
    assert plain == BTC and plain.base_decimals is None and plain.quote_decimals is None
    (declared,) = load_markets(toml_doc(base_decimals=8))
    assert (declared.base_decimals, declared.quote_decimals) == (8, 18)
    (both,) = load_markets(toml_doc(base_decimals=8, quote_decimals=6))
    assert (both.base_decimals, both.quote_decimals) == (8, 6)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"quote_decimals": 18}, "venue.markets[0].quote_decimals: given without base_decimals"),
        ({"base_decimals": -1}, "venue.markets[0].base_decimals: must be an integer in [0, 30]"),
        ({"base_decimals": 31}, "venue.markets[0].base_decimals: must be an integer in [0, 30]"),
        ({"base_decimals": "8"}, "venue.markets[0].base_decimals: must be an integer in [0, 30]"),
        ({"base_decimals": True}, "venue.markets[0].base_decimals: must be an integer in [0, 30]"),
        ({"base_decimals": 8, "quote_decimals": 99}, "venue.markets[0].quote_decimals: must be an integer in [0, 30]"),
        ({"base_decimals": 8, "lot_size": 3000}, "venue.markets[0].lot_size: must be a product of 2s and 5s"),
        ({"decimals": 8}, "venue.markets[0].decimals: unknown field"),
    ],
)
def test_toml_bad_decimals_are_refused(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(MarketConfigError, match=re.escape(message)):
        load_markets(toml_doc(**extra))


def test_params_refuse_half_declared_decimals() -> None:
    with pytest.raises(MarketConfigError, match="quote_decimals: must be given with base_decimals"):
        replace(BTC, base_decimals=8)


def test_record_without_decimals_is_unchanged_and_with_them_round_trips() -> None:
    assert len(unpack(encode_market(BTC))) == 13  # the format before decimals: same bytes, same roots
    with_decimals = replace(BTC, base_decimals=8, quote_decimals=18)
    assert len(unpack(encode_market(with_decimals))) == 15
    assert decode_market(encode_market(with_decimals)) == with_decimals
    assert decode_market(encode_market(BTC)) == BTC
    plain_writes = genesis_writes((BTC, ETH), ORACLE_KEY.address, FUND)
    declared_writes = genesis_writes((with_decimals, ETH), ORACLE_KEY.address, FUND)
    assert [key for key in plain_writes if plain_writes[key] != declared_writes[key]] == [market_key(0)]
    fields = unpack(encode_market(BTC))
    for bad in (fields + [8], fields + [8, 99], fields + [8, 18, 0]):
        with pytest.raises(DecodeError):
            decode_market(pack(bad))


# ================================================================ RPC fields


class Source:
    def __init__(self, state: Any) -> None:
        self.current = state

    def resolve(self, tag: int | str) -> int:
        return 7 if isinstance(tag, str) else tag

    def state(self, number: int) -> Any:
        return self.current


# BTC with decimals: a lot is 1000 sats = 0.00001 BTC; one unit per lot is 10^-13 eth per BTC
BTC_D = replace(BTC, base_decimals=8, quote_decimals=18)


@pytest.fixture()
def venue() -> Any:
    v = new_venue({A: 10**12, B: 10**12, C: 10**12}, markets=(BTC_D, ETH), prices={0: 50_000, 1: 2_000})
    v.send(KEYS[0], PlaceOrder(0, Side.BUY, 5, 49_990))
    v.send(KEYS[1], PlaceOrder(0, Side.SELL, 4, 50_010))
    v.send(KEYS[2], PlaceOrder(0, Side.BUY, 1, 50_010, OrderType.IOC))
    v.send(KEYS[0], PlaceOrder(1, Side.BUY, 2, 1_995))
    return v


def test_markets_report_decimals_and_decimal_twins(venue: Any) -> None:
    btc, eth = VenueMethods(Source(venue.state)).getMarkets([])
    units = get_market_units(BTC_D)
    assert units is not None
    assert btc["baseDecimals"] == 8 and btc["quoteDecimals"] == 18
    assert btc["oraclePrice"] == 50_000 and btc["oraclePriceDecimal"] == "0.000000005"
    assert btc["bestBidDecimal"] == format_price(49_990, units) and btc["bestAskDecimal"] == format_price(50_010, units)
    assert btc["tickSizeDecimal"] == "0.0000000000001" and btc["lotSizeDecimal"] == "0.00001"
    assert btc["fundingIndexDecimal"] == "0"
    # a market without decimals: null decimals, no twins, the integers as before
    assert eth["baseDecimals"] is None and eth["quoteDecimals"] is None
    assert not [key for key in eth if key.endswith("Decimal")]


def test_book_orders_positions_insurance_twins(venue: Any) -> None:
    methods = VenueMethods(Source(venue.state))
    units = get_market_units(BTC_D)
    assert units is not None
    book = methods.getBook(["BTC-PERP"])
    assert book["oraclePriceDecimal"] == format_price(50_000, units)
    assert book["bids"] == [
        {"price": 49_990, "size": 5, "orders": 1, "priceDecimal": "0.000000004999", "sizeDecimal": "0.00005"}
    ]
    assert book["asks"][0]["sizeDecimal"] == "0.00003"
    assert methods.getBook(["ETH-PERP"])["bids"] == [{"price": 1_995, "size": 2, "orders": 1}]
    (long_,) = methods.getPositions([to_checksum_address(C)])
    assert long_["sizeDecimal"] == "0.00001" and long_["entryPriceDecimal"] == format_price(50_010, units)
    assert long_["markPriceDecimal"] == format_price(50_000, units)
    assert long_["unrealizedPnl"] == "-10" and long_["unrealizedPnlDecimal"] == "-0.00000000000000001"
    assert long_["liquidationPrice"] is None and long_["liquidationPriceDecimal"] is None
    (short,) = methods.getPositions([to_checksum_address(B)])
    assert short["sizeDecimal"] == "-0.00001"
    assert Fraction(short["liquidationPriceDecimal"]) == human_price(short["liquidationPrice"], units)
    orders = methods.getOrders([to_checksum_address(A)])
    assert [(o["symbol"], o.get("priceDecimal"), o.get("sizeDecimal")) for o in orders] == [
        ("BTC-PERP", "0.000000004999", "0.00005"),
        ("ETH-PERP", None, None),
    ]
    fund = methods.getInsurance([])
    for name in ("balance", "pnl", "equity", "available"):
        assert Fraction(fund[name + "Decimal"]) == Fraction(int(fund[name]), 10**18), name
    assert Fraction(fund["pnlPool"]["balanceDecimal"]) == Fraction(int(fund["pnlPool"]["balance"]), 10**18)


def test_devnet_markets_declare_meaningful_decimals() -> None:
    from node.devnet.configs import venue_section
    from node.devnet.params import VENUE_START_PRICES

    btc, eth = load_markets({"venue": venue_section()})
    assert (btc.base_decimals, btc.quote_decimals, eth.base_decimals, eth.quote_decimals) == (8, 18, 18, 18)
    btc_units, eth_units = get_market_units(btc), get_market_units(eth)
    assert btc_units is not None and eth_units is not None
    assert format_price(VENUE_START_PRICES[0], btc_units) == "20"  # eth per BTC
    assert format_price(VENUE_START_PRICES[1], eth_units) == "1"  # eth per ETH
    assert format_size(1, btc_units) == "0.000001" and format_size(1, eth_units) == "0.000001"
    assert parse_size("0.001", btc_units) == 1000 and parse_price("20.5", btc_units) == VENUE_START_PRICES[0] * 41 // 40
    state = DictState(genesis_writes((btc, eth), ORACLE_KEY.address, FUND))
    assert VenueMethods(Source(state)).getMarkets([])[0]["tickSizeDecimal"] == "0.001"
