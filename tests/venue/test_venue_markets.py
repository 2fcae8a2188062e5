"""Markets from TOML, genesis writes, record codecs, payload wire fields, the ordered trie, mempool priority."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.encoding import DecodeError, pack
from node.state.view import DictState, Overlay
from node.stf import recover_transaction
from node.tx import Transfer, decode_tx, sign_tx
from node.venue.codec import decode_sint, encode_sint
from node.venue.keys import CONFIG_KEY, POOL_ADDRESS, market_key
from node.venue.markets import (
    MarketConfigError,
    decode_market,
    genesis_writes,
    get_market,
    get_venue_config,
    load_markets,
    load_venue_addresses,
)
from node.venue.payloads import CancelAll, CancelOrder, MiscodedPlaceOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.priority import PRIORITY_CANCEL, PRIORITY_DEFAULT, PRIORITY_ORACLE, priority_of
from node.venue.records import Position, VenueAccount, get_position, get_venue_account, set_position, set_venue_account
from node.venue.side import Side
from node.venue.trie import BitmapTrie
from node.venue.triggers import compute_bucket
from tests.venue.support import BTC, CHAIN_ID, ETH, FUND, KEYS, MARKETS, ORACLE_KEY, A

TOML = """
[venue]
oracle = "0x1111111111111111111111111111111111111111"
insurance_fund = "0x2222222222222222222222222222222222222222"

[[venue.markets]]
id = 0
symbol = "BTC-PERP"
tick_size = 1
lot_size = 1000
initial_margin_bps = 1000
maintenance_margin_bps = 500
max_leverage = 10
funding_interval_ms = 60000
funding_cap_bps = 100
liquidation_fee_bps = 100
maker_fee_bps = 0
taker_fee_bps = 0
oracle_band_bps = 2000

[[venue.markets]]
id = 1
symbol = "ETH-PERP"
tick_size = 5
lot_size = 10000
initial_margin_bps = 2000
maintenance_margin_bps = 1000
max_leverage = 5
funding_interval_ms = 60000
funding_cap_bps = 50
liquidation_fee_bps = 200
maker_fee_bps = 10
taker_fee_bps = 20
oracle_band_bps = 1000
"""


def test_load_markets_from_toml() -> None:
    doc = tomllib.loads(TOML)
    assert load_markets(doc) == MARKETS
    oracle, fund = load_venue_addresses(doc)
    assert oracle == b"\x11" * 20 and fund == b"\x22" * 20


def _with(field: str, value: Any, index: int = 0) -> dict[str, Any]:
    doc = tomllib.loads(TOML)
    entry = doc["venue"]["markets"][index]
    if value is None:
        del entry[field]
    else:
        entry[field] = value
    return doc


@pytest.mark.parametrize(
    "doc,message",
    [
        ({}, "venue: missing [venue] table"),
        ({"venue": {}}, "venue.markets: must be a non-empty"),
        ({"venue": {"markets": ["x"]}}, "venue.markets[0]: must be a table"),
        (_with("tick_size", None), "venue.markets[0].tick_size: missing"),
        (_with("colour", 3), "venue.markets[0].colour: unknown field"),
        (_with("tick_size", 0), "venue.markets[0].tick_size: must be in [1,"),
        (_with("tick_size", "1"), "venue.markets[0].tick_size: must be a non-negative integer"),
        (_with("tick_size", True), "venue.markets[0].tick_size: must be a non-negative integer"),
        (_with("lot_size", -1), "venue.markets[0].lot_size: must be a non-negative integer"),
        (_with("id", 70_000), "venue.markets[0].id: must be at most 65535"),
        (_with("symbol", "btc perp"), "venue.markets[0].symbol: must be 1-16"),
        (_with("symbol", 7), "venue.markets[0].symbol: must be a string"),
        (_with("maintenance_margin_bps", 1000), "venue.markets[0].maintenance_margin_bps: must be positive and below"),
        (_with("initial_margin_bps", 0), "venue.markets[0].initial_margin_bps: must be in [1, 10000]"),
        (_with("max_leverage", 9), "venue.markets[0].max_leverage: is below 1 / initial margin"),
        (_with("funding_interval_ms", 0), "venue.markets[0].funding_interval_ms: must be at least 1"),
        (_with("funding_cap_bps", 10_001), "venue.markets[0].funding_cap_bps: must be at most 10000"),
        (_with("liquidation_fee_bps", 10_001), "venue.markets[0].liquidation_fee_bps: must be at most 10000"),
        (_with("maker_fee_bps", 1_001), "venue.markets[0].maker_fee_bps: must be at most 1000"),
        (_with("taker_fee_bps", 1_001, 1), "venue.markets[1].taker_fee_bps: must be at most 1000"),
        (_with("oracle_band_bps", 0), "venue.markets[0].oracle_band_bps: must be in [1, 10000]"),
        (_with("id", 0, 1), "venue.markets[1].id: duplicate market id 0"),
        (_with("symbol", "BTC-PERP", 1), "venue.markets[1].symbol: duplicate symbol BTC-PERP"),
    ],
)
def test_load_markets_names_the_bad_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(MarketConfigError) as info:
        load_markets(doc)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("value", ["0x11", "1111111111111111111111111111111111111111x", 5])
def test_venue_addresses_must_be_addresses(value: Any) -> None:
    doc = tomllib.loads(TOML)
    doc["venue"]["oracle"] = value
    with pytest.raises(MarketConfigError, match="venue.oracle"):
        load_venue_addresses(doc)


def test_genesis_writes_put_the_markets_under_the_state_root() -> None:
    writes = genesis_writes(MARKETS, ORACLE_KEY.address, FUND)
    assert set(writes) == {CONFIG_KEY, market_key(0), market_key(1)}
    state = DictState(writes)
    config = get_venue_config(state)
    assert config is not None and config.oracle == ORACLE_KEY.address and config.insurance_fund == FUND
    assert config.market_ids == (0, 1)
    assert get_market(state, 1) == ETH and decode_market(writes[market_key(0)]) == BTC
    with pytest.raises(MarketConfigError):
        genesis_writes((BTC, replace(ETH, market_id=0)), ORACLE_KEY.address, FUND)
    with pytest.raises(MarketConfigError):
        genesis_writes(MARKETS, ORACLE_KEY.address, POOL_ADDRESS)
    with pytest.raises(MarketConfigError):
        genesis_writes(MARKETS, b"\x01", FUND)


def test_stored_market_params_are_checked_on_read() -> None:
    raw = pack([0, b"BTC-PERP", 0, *BTC.to_fields()[3:]])  # tick size 0
    with pytest.raises(DecodeError):
        decode_market(raw)


@settings(max_examples=200)
@given(st.integers(-(2**255), 2**255 - 1))
def test_signed_fields_round_trip_canonically(value: int) -> None:
    raw = encode_sint(value)
    assert decode_sint(raw, "v") == value and (raw == b"" or raw[0] != 0)


def test_empty_records_are_absent() -> None:
    state = DictState()
    overlay = Overlay(state)
    set_position(overlay, A, 0, Position(size=3, cost=3000))
    assert get_venue_account(overlay, A).markets == (0,)
    set_position(overlay, A, 0, Position())
    set_venue_account(overlay, A, VenueAccount())
    state.apply(overlay.writes)
    assert state.items == {} and get_position(state, A, 0) == Position()


@pytest.mark.parametrize(
    "payload",
    [
        PlaceOrder(1, Side.SELL, 7, 2005, OrderType.POST_ONLY, False, 2**64 - 1),
        CancelOrder(2**48 + 5),
        CancelAll(1),
        OracleUpdate(0, 12345, 1_700_000_000_000),
        MiscodedPlaceOrder(1, 2, 7, 2005, 3, 2, 5),
    ],
)
def test_payloads_round_trip_on_the_wire(payload: Any) -> None:
    signed = sign_tx(KEYS[0], CHAIN_ID, 3, 1, payload)
    decoded = decode_tx(signed.encode())
    assert decoded == signed and decoded.payload == payload  # type: ignore[union-attr]
    assert decoded.kind == payload.KIND and payload.KIND in (16, 17, 18, 19)


def test_priority_puts_oracle_updates_first_then_cancels() -> None:
    def rtx(payload: Any, key: Any = KEYS[0]) -> Any:
        return recover_transaction(sign_tx(key, CHAIN_ID, 0, 1, payload).encode())

    txs = [
        rtx(PlaceOrder(0, Side.BUY, 1, 1000)),
        rtx(Transfer(A, 5)),
        rtx(CancelAll(0)),
        rtx(OracleUpdate(0, 1, 2), ORACLE_KEY),
        rtx(CancelOrder(1)),
    ]
    assert [priority_of(t) for t in txs] == [
        PRIORITY_DEFAULT,
        PRIORITY_DEFAULT,
        PRIORITY_CANCEL,
        PRIORITY_ORACLE,
        PRIORITY_CANCEL,
    ]
    ordered = sorted(txs, key=priority_of)  # stable: equal priorities keep their order
    assert isinstance(ordered[0].tx.payload, OracleUpdate) and ordered[-2:] == txs[:2]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2**16 - 1)), max_size=60), st.integers(0, 2**16 - 1))
def test_the_bitmap_trie_orders_keys_like_a_sorted_set(ops: list[tuple[bool, int]], probe: int) -> None:
    trie = BitmapTrie(b"\x99", 2)
    state = DictState()
    model: set[int] = set()
    for insert, key in ops:
        overlay = Overlay(state)
        if insert and key not in model:
            trie.process_insert(overlay, key)
            model.add(key)
        elif not insert and key in model:
            trie.process_remove(overlay, key)
            model.discard(key)
        state.apply(overlay.writes)
    assert trie.get_min(state) == min(model, default=None)
    assert trie.get_max(state) == max(model, default=None)
    assert trie.get_at_or_above(state, probe) == min((k for k in model if k >= probe), default=None)
    assert trie.get_at_or_below(state, probe) == max((k for k in model if k <= probe), default=None)
    if not model:
        assert state.items == {}  # removing every key leaves no node behind


@settings(max_examples=300)
@given(st.integers(-(2**80), 2**80), st.integers(0, 2**40))
def test_the_trigger_quantizer_is_monotone(x: int, delta: int) -> None:
    assert compute_bucket(x) <= compute_bucket(x + delta)
