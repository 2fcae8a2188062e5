"""Bad input for every field of every venue kind: each error class, its JSON-RPC code, state untouched."""

from __future__ import annotations

import pickle
from dataclasses import replace
from typing import Any

import pytest

from node.encoding import UINT64_MAX, pack
from node.state.view import DictState, Overlay
from node.stf import (
    InvalidTransaction,
    MalformedTransaction,
    StfError,
    apply_transaction,
    recover_transaction,
    validate_transaction,
)
from node.stf.execute import process_fee_and_nonce
from node.tx import compute_signing_hash, sign_tx
from node.venue import errors
from node.venue.errors import (
    InsufficientMargin,
    InvalidFlag,
    InvalidOrderType,
    InvalidPrice,
    InvalidSide,
    InvalidSize,
    NotOracle,
    NotOrderOwner,
    OraclePriceNotSet,
    OraclePriceOutOfBand,
    OracleTimestampInFuture,
    PostOnlyWouldCross,
    ReduceOnlyRejected,
    StaleOraclePrice,
    TooManyMarkets,
    UnknownMarket,
    UnknownOrder,
    VenueError,
    VenueNotConfigured,
)
from node.venue.keys import compute_order_id
from node.venue.markets import MAX_PRICE
from node.venue.oracle import ORACLE_MAX_AHEAD_MS
from node.venue.orders import MAX_MARKETS, MAX_ORDER_LOTS, process_place_order
from node.venue.payloads import CancelAll, CancelOrder, MiscodedPlaceOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.side import Side
from tests.venue.support import BTC, CHAIN_ID, CONFIG, FEE, KEYS, ORACLE_KEY, START_MS, A, B, C, Venue, new_venue


def all_venue_errors() -> list[type[VenueError]]:
    return [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, VenueError)]


def test_rpc_codes_are_distinct_and_in_the_venue_range() -> None:
    codes = [cls.rpc_code for cls in all_venue_errors()]
    assert len(codes) == len(set(codes)) == 21
    assert all(-31099 <= code <= -31070 for code in codes)
    core = {cls.rpc_code for cls in StfError.__subclasses__()} | {-32010, -32018, -32041}
    assert not core & set(codes)


def test_errors_pickle_with_their_fields() -> None:
    error = InsufficientMargin(A, 5, 10, "initial")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InsufficientMargin and str(copy) == str(error) and copy.required == 10


@pytest.fixture
def venue() -> Venue:
    venue = new_venue({A: 1_000_000, B: 1_000_000}, prices={0: 1000})
    venue.send(KEYS[1], PlaceOrder(0, Side.SELL, 5, 1010))  # B's resting ask, order (0, 1)
    return venue


GOOD = PlaceOrder(0, Side.BUY, 1, 1000)

# (payload, sender key index (-1: the oracle key), error, rpc code, raised by the read-only check too)
CASES: list[tuple[str, Any, int, type[VenueError], int, bool]] = [
    ("market", replace(GOOD, market_id=7), 0, UnknownMarket, -31071, True),
    ("market beyond u16", replace(GOOD, market_id=70_000), 0, UnknownMarket, -31071, True),
    ("side", MiscodedPlaceOrder(0, 2, 1, 1000), 0, InvalidSide, -31072, True),
    ("order type", MiscodedPlaceOrder(0, 0, 1, 1000, order_type=3), 0, InvalidOrderType, -31073, True),
    ("size zero", replace(GOOD, size=0), 0, InvalidSize, -31074, True),
    ("size too large", replace(GOOD, size=MAX_ORDER_LOTS + 1), 0, InvalidSize, -31074, True),
    ("price zero", replace(GOOD, price=0), 0, InvalidPrice, -31075, True),
    ("price too high", replace(GOOD, price=MAX_PRICE + 1), 0, InvalidPrice, -31075, True),
    ("reduce-only flag", MiscodedPlaceOrder(0, 0, 1, 1000, reduce_only=2), 0, InvalidFlag, -31076, True),
    ("reduce-only GTC", replace(GOOD, reduce_only=True), 0, ReduceOnlyRejected, -31077, True),
    (
        "reduce-only nothing",
        replace(GOOD, reduce_only=True, order_type=OrderType.IOC),
        0,
        ReduceOnlyRejected,
        -31077,
        False,
    ),
    ("post-only cross", PlaceOrder(0, Side.BUY, 1, 1010, OrderType.POST_ONLY), 0, PostOnlyWouldCross, -31078, False),
    ("margin", PlaceOrder(0, Side.BUY, 10_001, 900), 0, InsufficientMargin, -31079, False),
    ("oracle not set", PlaceOrder(1, Side.BUY, 1, 1000), 0, OraclePriceNotSet, -31088, True),
    ("cancel unknown order", CancelOrder(compute_order_id(0, 99)), 0, UnknownOrder, -31080, True),
    ("cancel someone else's", CancelOrder(compute_order_id(0, 1)), 0, NotOrderOwner, -31081, True),
    ("cancel all unknown market", CancelAll(9), 0, UnknownMarket, -31071, True),
    ("oracle from a trader", OracleUpdate(0, 1000, START_MS + 10), 0, NotOracle, -31084, True),
    ("oracle market", OracleUpdate(5, 1000, START_MS + 10), -1, UnknownMarket, -31071, True),
    ("oracle price zero", OracleUpdate(0, 0, START_MS + 10), -1, InvalidPrice, -31075, True),
    ("oracle price too high", OracleUpdate(0, MAX_PRICE + 1, START_MS + 10), -1, InvalidPrice, -31075, True),
    ("oracle stale", OracleUpdate(0, 1000, START_MS + 1), -1, StaleOraclePrice, -31085, True),
    (
        "oracle future",
        OracleUpdate(0, 1000, START_MS + ORACLE_MAX_AHEAD_MS + 1),
        -1,
        OracleTimestampInFuture,
        -31086,
        False,
    ),
    ("oracle band up", OracleUpdate(0, 1201, START_MS + 10), -1, OraclePriceOutOfBand, -31087, True),
    ("oracle band down", OracleUpdate(0, 799, START_MS + 10), -1, OraclePriceOutOfBand, -31087, True),
]


@pytest.mark.parametrize("name,payload,who,error,code,in_check", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_rejected_with_its_code(
    venue: Venue, name: str, payload: Any, who: int, error: type[VenueError], code: int, in_check: bool
) -> None:
    key = ORACLE_KEY if who == -1 else KEYS[who]
    snapshot = dict(venue.state.items)
    rtx = venue.rtx(key, payload)
    if in_check:
        with pytest.raises(error):
            validate_transaction(venue.state, CONFIG, rtx)
    overlay = Overlay(venue.state)
    with pytest.raises(error) as info:
        apply_transaction(overlay, CONFIG, venue.ctx, rtx)
    assert info.value.rpc_code == code and str(info.value)
    assert overlay.writes == {} and venue.state.items == snapshot


def test_the_band_and_the_tick_are_inclusive(venue: Venue) -> None:
    venue.send(ORACLE_KEY, OracleUpdate(0, 1200, START_MS + 10))  # exactly +20 %
    venue.send(ORACLE_KEY, OracleUpdate(0, 960, START_MS + 11))  # exactly -20 %
    venue.send(KEYS[0], PlaceOrder(0, Side.BUY, 1, MAX_PRICE // BTC.tick_size * BTC.tick_size, OrderType.IOC))


def test_off_tick_price(venue: Venue) -> None:
    venue.send(ORACLE_KEY, OracleUpdate(1, 2000, START_MS + 10))
    with pytest.raises(InvalidPrice) as info:
        venue.send(KEYS[0], PlaceOrder(1, Side.BUY, 1, 2001))  # ETH's tick is 5
    assert info.value.rpc_code == -31075 and "tick" in str(info.value)


def test_market_limit_per_account() -> None:
    markets = tuple(replace(BTC, market_id=i, symbol=f"M{i}") for i in range(MAX_MARKETS + 1))
    venue = new_venue({A: 10**9, B: 10**9, C: 10**9}, markets=markets, prices={i: 1000 for i in range(MAX_MARKETS + 1)})
    for i in range(MAX_MARKETS + 1):
        venue.send(KEYS[1 + i % 2], PlaceOrder(i, Side.SELL, 1, 1000))
    for i in range(MAX_MARKETS):
        venue.send(KEYS[0], PlaceOrder(i, Side.BUY, 1, 1000, OrderType.IOC))
    with pytest.raises(TooManyMarkets) as info:
        venue.send(KEYS[0], PlaceOrder(MAX_MARKETS, Side.BUY, 1, 1000, OrderType.IOC))
    assert info.value.rpc_code == -31083


def test_state_without_a_venue() -> None:
    state = DictState()
    rtx = recover_transaction(sign_tx(KEYS[0], CHAIN_ID, 0, FEE, GOOD).encode())
    with pytest.raises(VenueNotConfigured) as info:
        validate_transaction(state, CONFIG, rtx)
    assert info.value.rpc_code == -31090


def _signed_raw(kind: int, fields: list[Any]) -> bytes:
    unsigned = [kind, CHAIN_ID, 0, (FEE).to_bytes(1, "big"), *fields]
    return pack([*unsigned, KEYS[0].sign_hash(compute_signing_hash(unsigned))])


@pytest.mark.parametrize(
    "kind,fields",
    [
        (16, [0, b"\x00", 1, 1000, 0, 0, 0]),  # side as bytes
        (16, [0, 0, 1, 1000, 0, 0]),  # a field short
        (16, [0, 0, 1, 1000, 0, 0, 0, 0]),  # a field too many
        (16, [0, 0, -1, 1000, 0, 0, 0]),  # negative size
        (17, [UINT64_MAX + 1]),  # beyond 64 bits (msgpack cannot even hold it as an int)
        (18, ["0"]),  # a string
        (19, [0, 1000]),  # oracle update without its timestamp
    ],
)
def test_undecodable_fields_are_malformed(kind: int, fields: list[Any]) -> None:
    try:
        raw = _signed_raw(kind, fields)
    except OverflowError:
        return  # msgpack refuses to encode it at all
    with pytest.raises(MalformedTransaction) as info:
        recover_transaction(raw)
    assert info.value.rpc_code == -32018


def test_insufficient_margin_names_the_requirement(venue: Venue) -> None:
    # 999_999 of collateral (after the fee) carries 9_999 lots at mark 1000 with 10 % initial margin
    def run(overlay: Overlay) -> None:
        process_fee_and_nonce(overlay, CONFIG, A, FEE)
        process_place_order(overlay, CONFIG, A, PlaceOrder(0, Side.BUY, 9_999, 900))

    venue.run(run)
    with pytest.raises(InsufficientMargin) as info:  # one lot more needs 1_000_000
        venue.run(lambda overlay: process_place_order(overlay, CONFIG, A, PlaceOrder(0, Side.BUY, 1, 900)))
    assert info.value.kind == "initial" and info.value.required == 1_000_000 and info.value.equity == 999_999
    assert isinstance(info.value, InvalidTransaction)
