"""The venue's domain types: Side, OrderType, typed place_order payloads, and handlers typed by payload."""

from __future__ import annotations

import pytest

from node.crypto import Address
from node.encoding import pack
from node.state.view import DictState, Overlay
from node.stf import UnknownKind, get_handler, validate_transaction
from node.stf.handlers import Signed, TxHandler
from node.tx import Transfer, compute_signing_hash, decode_tx
from node.venue import HANDLERS
from node.venue.errors import InvalidFlag, InvalidOrderType, InvalidSide, UnknownMarket, VenueNotConfigured
from node.venue.keys import level_key, order_key
from node.venue.payloads import CancelAll, CancelOrder, MiscodedPlaceOrder, OracleUpdate, OrderType, PlaceOrder
from node.venue.records import Order, get_order, set_order
from node.venue.side import Side
from tests.venue.support import CHAIN_ID, CONFIG, FEE, KEYS, A, new_venue


def test_side_codes_and_meanings() -> None:
    assert (int(Side.BUY), int(Side.SELL)) == (0, 1)
    assert Side.BUY.opposite is Side.SELL and Side.SELL.opposite is Side.BUY
    assert (Side.BUY.sign, Side.SELL.sign) == (1, -1)
    assert (Side.BUY.signed(7), Side.SELL.signed(7)) == (7, -7)
    assert Side.of_position(3) is Side.BUY and Side.of_position(-3) is Side.SELL
    assert [Side.from_label(side.label) for side in Side] == [Side.BUY, Side.SELL]
    with pytest.raises(ValueError):
        Side.from_label("bid")


def test_order_type_codes() -> None:
    assert [(int(t), t.rests) for t in OrderType] == [(0, True), (1, False), (2, True)]


def test_place_order_fields_are_typed() -> None:
    order = PlaceOrder(0, 1, 5, 1000, 2, 1)  # type: ignore[arg-type]  # integer codes are converted
    assert order.side is Side.SELL and order.order_type is OrderType.POST_ONLY and order.reduce_only is True
    assert order == PlaceOrder(0, Side.SELL, 5, 1000, OrderType.POST_ONLY, True)
    assert [type(f) for f in order.to_fields()] == [int] * 7  # bool and enums leave as plain ints
    assert pack(order.to_fields()) == pack([0, 1, 5, 1000, 2, 1, 0])
    for bad in ({"side": 2}, {"order_type": 3}, {"reduce_only": 2}):
        with pytest.raises(ValueError):
            PlaceOrder(**{"market_id": 0, "side": Side.BUY, "size": 1, "price": 1000, **bad})  # type: ignore[arg-type]


def test_codes_pick_the_payload_class() -> None:
    assert PlaceOrder.from_codes(0, 0, 1, 1000) == PlaceOrder(0, Side.BUY, 1, 1000)
    assert PlaceOrder.from_codes(0, 2, 1, 1000) == MiscodedPlaceOrder(0, 2, 1, 1000)
    with pytest.raises(ValueError):
        MiscodedPlaceOrder(0, 1, 1, 1000)  # every code names something: a PlaceOrder


def _signed_place_order(fields: list[int]) -> bytes:
    unsigned = [16, CHAIN_ID, 0, FEE.to_bytes(1, "big"), *fields]
    return pack([*unsigned, KEYS[0].sign_hash(compute_signing_hash(unsigned))])


@pytest.mark.parametrize("fields", [[0, 2, 1, 1000, 0, 0, 0], [0, 0, 1, 1000, 3, 0, 0], [0, 1, 1, 1000, 1, 2, 9]])
def test_a_miscoded_order_keeps_its_bytes(fields: list[int]) -> None:
    raw = _signed_place_order(fields)
    tx = decode_tx(raw)
    assert isinstance(tx.payload, MiscodedPlaceOrder) and tx.payload.to_fields() == fields  # type: ignore[union-attr]
    assert tx.encode() == raw and tx.recover_sender() == A  # type: ignore[union-attr]


def test_a_well_coded_order_decodes_typed() -> None:
    tx = decode_tx(_signed_place_order([3, 1, 4, 1005, 1, 1, 7]))
    assert tx.payload == PlaceOrder(3, Side.SELL, 4, 1005, OrderType.IOC, True, 7)  # type: ignore[union-attr]


def test_a_miscoded_order_fails_after_the_venue_and_market_checks() -> None:
    venue = new_venue({A: 10_000}, prices={0: 1000})

    def check(state: DictState, payload: object) -> None:
        validate_transaction(state, CONFIG, venue.rtx(KEYS[0], payload))

    cases: list[tuple[DictState, object, type[Exception]]] = [
        (DictState(), MiscodedPlaceOrder(0, 2, 1, 1000), VenueNotConfigured),
        (venue.state, MiscodedPlaceOrder(7, 2, 1, 1000), UnknownMarket),
        (venue.state, MiscodedPlaceOrder(0, 2, 1, 1000, 3, 2), InvalidSide),  # the side first
        (venue.state, MiscodedPlaceOrder(0, 0, 1, 1000, 3, 2), InvalidOrderType),
        (venue.state, MiscodedPlaceOrder(0, 0, 1, 1000, 0, 2), InvalidFlag),
    ]
    for state, payload, error in cases:
        with pytest.raises(error):
            check(state, payload)


def test_every_venue_payload_class_has_its_handler() -> None:
    payloads = [
        PlaceOrder(0, Side.BUY, 1, 1000),
        MiscodedPlaceOrder(0, 2, 1, 1000),
        CancelOrder(1),
        CancelAll(0),
        OracleUpdate(0, 1000, 1),
    ]
    assert [h.payload_cls for h in HANDLERS] == [type(p) for p in payloads]
    for payload, handler in zip(payloads, HANDLERS, strict=True):
        assert get_handler(type(payload)) is handler and handler.cost(payload) == 0  # the venue moves no value up front


def test_a_handler_takes_only_its_payload_class() -> None:
    handler: TxHandler[PlaceOrder] = get_handler(PlaceOrder)
    venue = new_venue({})
    with pytest.raises(TypeError):
        handler.bind(venue.rtx(KEYS[0], Transfer(A, 5)))
    with pytest.raises(TypeError):
        handler.cost(Transfer(A, 5))
    order = venue.rtx(KEYS[0], PlaceOrder(0, Side.BUY, 1, 1000))
    bound = handler.bind(order)
    assert isinstance(bound, Signed) and bound.payload == PlaceOrder(0, Side.BUY, 1, 1000)
    assert (bound.sender, bound.fee, bound.hash) == (A, FEE, order.hash)


def test_a_payload_class_without_a_handler_is_an_unknown_kind() -> None:
    with pytest.raises(UnknownKind):
        get_handler(Order)


def test_records_store_the_side_code() -> None:
    overlay = Overlay(DictState())
    owner = Address(b"\x01" * 20)
    set_order(overlay, 5, Order(owner, Side.SELL, 1000, 3, 0))
    assert overlay.writes[order_key(5)] == pack([bytes(owner), 1, 1000, 3, 0, 0, 0])
    assert get_order(overlay, 5) == Order(owner, Side.SELL, 1000, 3, 0) and get_order(overlay, 5).side is Side.SELL  # type: ignore[union-attr]
    # the key holds the side's code (a plain int is refused by the compiled build, setup.py)
    assert level_key(0, Side.SELL, 7) == level_key(0, Side(1), 7)


def test_the_json_form_of_an_order_is_its_wire_codes() -> None:
    """rollup_getTransactionByHash shows a place_order as before the types: every field its integer as a string."""
    from node.l2rpc import payload_json

    expected = {
        "marketId": "0",
        "side": "1",
        "size": "5",
        "price": "1000",
        "orderType": "1",
        "reduceOnly": "1",
        "clientOrderId": "7",
    }
    assert payload_json(PlaceOrder(0, Side.SELL, 5, 1000, OrderType.IOC, True, 7)) == expected
    assert payload_json(MiscodedPlaceOrder(0, 1, 5, 1000, 1, 2, 7)) == {**expected, "reduceOnly": "2"}
